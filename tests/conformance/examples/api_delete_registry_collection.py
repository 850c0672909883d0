# Source: wandb/docs models/artifacts/delete-artifacts.mdx ("Delete an artifact collection")
# Changed: the import line; placeholders "<artifact_type>" and
# "entity/project/artifact_collection_name" (here a registry collection's path, the form
# W&B's api.artifact_collection takes for one).
import modelbay as wandb

# Setup (not in the source): a model linked into a registry collection with an alias.
with open("model.pt", "w") as f:
    f.write("weights")
with wandb.init(project="project") as setup:
    setup.link_model("model.pt", "wandb-registry-model/artifact_collection_name",
                     aliases=["staging"])

# Provide your entity and a project name when you
# use wandb.Api methods.
api = wandb.Api(overrides={"project": "project", "entity": "entity"})
collection = api.artifact_collection(
    "model", "wandb-registry-model/artifact_collection_name"
)
collection.delete()

# Check (not in the source): the collection is gone; the version it linked stays in its
# project (as W&B's registry docs say of deleting a registry's collections).
api = wandb.Api()
assert not api.artifact_collection_exists("wandb-registry-model/artifact_collection_name", "model")
kept = api.artifact_type("model", "project").collections()
assert len(kept) == 1 and len(kept[0].artifacts()) == 1
