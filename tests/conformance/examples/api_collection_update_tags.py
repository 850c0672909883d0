# Source: wandb/docs models/registry/organize-with-tags.mdx ("Update tags that belong to a collection", reassignment, continuing "Add a tag to a collection")
# Changed: the import line; placeholders [COLLECTION-TYPE] [REGISTRY-NAME] [COLLECTION-NAME] and tags_to_delete.
import modelbay as wandb

# Setup (not in the source): a collection, and the page's earlier snippet that fetched it.
def publish(name, collection, tags=(), aliases=(), metadata=None):
    open(f"{name}.bin", "w").write(name)
    with wandb.init(project="training") as setup_run:
        art = wandb.Artifact(name, type="model", metadata=metadata)
        art.tags = list(tags)
        art.add_file(f"{name}.bin")
        setup_run.log_artifact(art)
        art.link(f"wandb-registry-model/{collection}", aliases=list(aliases))

publish("m", "my-model")
collection = wandb.Api().artifact_collection(type_name="model", name="wandb-registry-model/my-model")
collection.tags = ["your-tag"]
collection.save()
tags_to_delete = ["your-tag", "other-tag"]

collection.tags = [*collection.tags, "new-tag", "other-tag"]
collection.tags = collection.tags + ["new-tag", "other-tag"]

collection.tags = set(collection.tags) - set(tags_to_delete)
collection.save()

# Check (not in the source).
assert wandb.Api().artifact_collection("model", "wandb-registry-model/my-model").tags == ["new-tag"]
