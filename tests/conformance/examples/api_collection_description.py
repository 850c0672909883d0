# Source: wandb/docs models/registry/registry_cards.mdx ("Add a description to a collection", Python SDK)
# Changed: the import line; placeholders <collection_type> and <collection_name>.
import modelbay as wandb

# Setup (not in the source): a collection in the model registry.
def publish(name, collection, tags=(), aliases=(), metadata=None):
    open(f"{name}.bin", "w").write(name)
    with wandb.init(project="training") as setup_run:
        art = wandb.Artifact(name, type="model", metadata=metadata)
        art.tags = list(tags)
        art.add_file(f"{name}.bin")
        setup_run.log_artifact(art)
        art.link(f"wandb-registry-model/{collection}", aliases=list(aliases))

publish("m", "my-model")

api = wandb.Api()

collection = api.artifact_collection(
  type_name = "model",
  name = "wandb-registry-model/my-model"
  )


collection.description = "This is a description."
collection.save()

# Check (not in the source).
again = wandb.Api().artifact_collection(type_name="model", name="wandb-registry-model/my-model")
assert again.description == "This is a description."
