# Source: wandb/docs models/ref/python/public-api/api.mdx ("registries": "Find all collections in the registries with the name my_collection and the tag my_tag")
# Changed: the import line.
import modelbay as wandb

# Setup (not in the source): my_collection tagged my_tag, and another collection.
def publish(name, collection, tags=(), aliases=(), metadata=None):
    open(f"{name}.bin", "w").write(name)
    with wandb.init(project="training") as setup_run:
        art = wandb.Artifact(name, type="model", metadata=metadata)
        art.tags = list(tags)
        art.add_file(f"{name}.bin")
        setup_run.log_artifact(art)
        art.link(f"wandb-registry-model/{collection}", aliases=list(aliases))

publish("m1", "my_collection")
publish("m2", "other_collection")
wandb.Api().collection("model-registry/my_collection").update(tags=["my_tag"])
api = wandb.Api()

api.registries().collections(filter={"name": "my_collection", "tag": "my_tag"})

# Check (not in the source).
found = api.registries().collections(filter={"name": "my_collection", "tag": "my_tag"})
assert [c.name for c in found] == ["my_collection"]
