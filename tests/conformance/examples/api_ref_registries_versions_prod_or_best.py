# Source: wandb/docs models/ref/python/public-api/api.mdx ("registries": "Find all artifact versions in the registries that contain model and have the tag prod or alias best")
# Changed: the import line.
import modelbay as wandb

# Setup (not in the source): versions tagged prod, aliased best, or neither.
def publish(name, collection, tags=(), aliases=(), metadata=None):
    open(f"{name}.bin", "w").write(name)
    with wandb.init(project="training") as setup_run:
        art = wandb.Artifact(name, type="model", metadata=metadata)
        art.tags = list(tags)
        art.add_file(f"{name}.bin")
        setup_run.log_artifact(art)
        art.link(f"wandb-registry-model/{collection}", aliases=list(aliases))

publish("a", "coll-a", tags=["prod"])
publish("b", "coll-b", aliases=["best"])
publish("c", "coll-c")
api = wandb.Api()

api.registries(filter={"name": {"$regex": "model"}}).versions(
    filter={"$or": [{"tag": "prod"}, {"alias": "best"}]}
)

# Check (not in the source).
found = api.registries(filter={"name": {"$regex": "model"}}).versions(
    filter={"$or": [{"tag": "prod"}, {"alias": "best"}]}
)
assert sorted(a.info["link"]["collection"] for a in found) == ["coll-a", "coll-b"]
