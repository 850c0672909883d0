# Source: wandb/docs models/registry/search_registry.mdx ("Find all artifact versions that contain the string `model` and have either the tag `image-classification` or the `production` alias")
# Changed: the import line.
import modelbay as wandb

# Setup (not in the source): three versions: one tagged, one with the alias, one with neither.
def publish(name, collection, tags=(), aliases=(), metadata=None):
    open(f"{name}.bin", "w").write(name)
    with wandb.init(project="training") as setup_run:
        art = wandb.Artifact(name, type="model", metadata=metadata)
        art.tags = list(tags)
        art.add_file(f"{name}.bin")
        setup_run.log_artifact(art)
        art.link(f"wandb-registry-model/{collection}", aliases=list(aliases))

publish("tagged", "classifier", tags=["image-classification"])
publish("promoted", "detector", aliases=["production"])
publish("plain", "segmenter")
api = wandb.Api()

# Find all artifact versions that contain the string `model` and 
# have either the tag `image-classification` or the `production` alias
registry_filters = {
    "name": {"$regex": "model"}
}

# Use logical $or operator to filter artifact versions
version_filters = {
    "$or": [
        {"tag": "image-classification"},
        {"alias": "production"}
    ]
}

# Returns an iterable of all artifact versions that match the filters
artifacts = api.registries(filter=registry_filters).collections().versions(filter=version_filters)

# Check (not in the source).
assert sorted(a.info["link"]["collection"] for a in artifacts) == ["classifier", "detector"]
