# Source: wandb/docs models/registry/search_registry.mdx ("Filter all registries that contain the string `model`")
# Changed: the import line.
import modelbay as wandb

# Setup (not in the source): a model and a dataset registry with a version each.
def publish(name, collection, tags=(), aliases=(), metadata=None):
    open(f"{name}.bin", "w").write(name)
    with wandb.init(project="training") as setup_run:
        art = wandb.Artifact(name, type="model", metadata=metadata)
        art.tags = list(tags)
        art.add_file(f"{name}.bin")
        setup_run.log_artifact(art)
        art.link(f"wandb-registry-model/{collection}", aliases=list(aliases))

publish("resnet", "resnet-classifier")
open("rows.csv", "w").write("a\n1\n")
with wandb.init(project="training") as setup_run:
    data = wandb.Artifact("rows", type="dataset")
    data.add_file("rows.csv")
    setup_run.log_artifact(data)
    data.link("wandb-registry-dataset/rows")

# (Optional) Create an instance of the wandb.Api() class for readability
api = wandb.Api()

# Filter all registries that contain the string `model`
registry_filters = {
    "name": {"$regex": "model"}
}

# Returns an iterable of all registries that match the filters
registries = api.registries(filter=registry_filters)

# Check (not in the source).
assert [r.name for r in registries] == ["model"]
