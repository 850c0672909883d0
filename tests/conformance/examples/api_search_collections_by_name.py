# Source: wandb/docs models/registry/search_registry.mdx ("Filter all collections, independent of registry, that contain the string `yolo`")
# Changed: the import line.
import modelbay as wandb

# Setup (not in the source): collections with and without yolo in their names.
def publish(name, collection, tags=(), aliases=(), metadata=None):
    open(f"{name}.bin", "w").write(name)
    with wandb.init(project="training") as setup_run:
        art = wandb.Artifact(name, type="model", metadata=metadata)
        art.tags = list(tags)
        art.add_file(f"{name}.bin")
        setup_run.log_artifact(art)
        art.link(f"wandb-registry-model/{collection}", aliases=list(aliases))

publish("small", "yolo-small")
publish("large", "yolov8-large")
publish("bert", "bert-base")
api = wandb.Api()

# Filter all collections, independent of registry, that 
# contain the string `yolo` in the collection name
collection_filters = {
    "name": {"$regex": "yolo"}
}

# Returns an iterable of all collections that match the filters
collections = api.registries().collections(filter=collection_filters)

# Check (not in the source).
assert sorted(c.name for c in collections) == ["yolo-small", "yolov8-large"]
