# Source: wandb/docs models/registry/organize-with-tags.mdx ("Add a tag to a collection", Python SDK)
# Changed: the import line; placeholders [COLLECTION-TYPE] [REGISTRY-NAME] [COLLECTION-NAME].
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

COLLECTION_TYPE = "model"
REGISTRY_NAME = "model"
COLLECTION_NAME = "my-model"

full_name = f"wandb-registry-{REGISTRY_NAME}/{COLLECTION_NAME}"

collection = wandb.Api().artifact_collection(
  type_name = COLLECTION_TYPE, 
  name = full_name
  )

collection.tags = ["your-tag"]
collection.save()

# Check (not in the source).
assert wandb.Api().artifact_collection("model", full_name).tags == ["your-tag"]
assert [c.name for c in wandb.Api().registries().collections(filter={"tag": "your-tag"})] == ["my-model"]
