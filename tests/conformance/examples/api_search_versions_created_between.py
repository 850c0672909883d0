# Source: wandb/docs models/registry/search_registry.mdx ("Filter all artifact versions, independent of registry or collection, created between 2024-01-08 and 2025-03-04 at 13:10 UTC")
# Changed: the import line; the dates (placeholders of a period that holds the setup's versions).
import modelbay as wandb

# Setup (not in the source): two linked versions, created now.
def publish(name, collection, tags=(), aliases=(), metadata=None):
    open(f"{name}.bin", "w").write(name)
    with wandb.init(project="training") as setup_run:
        art = wandb.Artifact(name, type="model", metadata=metadata)
        art.tags = list(tags)
        art.add_file(f"{name}.bin")
        setup_run.log_artifact(art)
        art.link(f"wandb-registry-model/{collection}", aliases=list(aliases))

publish("first", "classifier")
publish("second", "detector")
api = wandb.Api()

# Find all artifact versions created between 2024-01-08 and 2025-03-04 at 13:10 UTC.

artifact_filters = {
    "alias": "latest",
    "created_at": {"$gte": "2024-01-08", "$lte": "2099-03-04 13:10:00"},
}

# Returns an iterable of all artifact versions that match the filters
artifacts = api.registries().collections().versions(filter=artifact_filters)

# Check (not in the source).
assert len(list(artifacts)) == 2
before = {"created_at": {"$lte": "2025-03-04 13:10:00"}}
assert list(api.registries().collections().versions(filter=before)) == []
