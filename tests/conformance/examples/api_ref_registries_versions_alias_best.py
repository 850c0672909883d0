# Source: wandb/docs models/ref/python/public-api/api.mdx ("registries": "Find all artifact versions ... with a collection name that contains my_collection and a version that has the alias best")
# Changed: the import line.
import modelbay as wandb

# Setup (not in the source): two versions in my_collection, the second aliased best.
def publish(name, collection, tags=(), aliases=(), metadata=None):
    open(f"{name}.bin", "w").write(name)
    with wandb.init(project="training") as setup_run:
        art = wandb.Artifact(name, type="model", metadata=metadata)
        art.tags = list(tags)
        art.add_file(f"{name}.bin")
        setup_run.log_artifact(art)
        art.link(f"wandb-registry-model/{collection}", aliases=list(aliases))

publish("m1", "my_collection")
publish("m2", "my_collection", aliases=["best"])
publish("m3", "elsewhere", aliases=["best"])
api = wandb.Api()

api.registries().collections(
    filter={"name": {"$regex": "my_collection"}}
).versions(filter={"alias": "best"})

# Check (not in the source).
found = api.registries().collections(
    filter={"name": {"$regex": "my_collection"}}
).versions(filter={"alias": "best"})
assert [(a.info["link"]["collection"], a.version) for a in found] == [("my_collection", "v1")]
