# Source: wandb/docs models/artifacts/delete-artifacts.mdx ("Delete an artifact collection")
# Changed: the import line; placeholders "<artifact_type>" and
# "entity/project/artifact_collection_name".
import modelbay as wandb

# Setup (not in the source): two versions of a dataset, and another artifact that stays.
with wandb.init(project="project") as setup:
    for content in ("a", "b"):
        with open("data.csv", "w") as f:
            f.write(content)
        setup.log_artifact("data.csv", name="artifact_collection_name", type="dataset")
    with open("other.csv", "w") as f:
        f.write("kept")
    setup.log_artifact("other.csv", name="other", type="dataset")

# Provide your entity and a project name when you
# use wandb.Api methods.
api = wandb.Api(overrides={"project": "project", "entity": "entity"})
collection = api.artifact_collection(
    "dataset", "entity/project/artifact_collection_name"
)
collection.delete()

# Check (not in the source): every version is gone; the other artifact is not.
api = wandb.Api()
assert not api.artifact_exists("project/artifact_collection_name:v0")
assert not api.artifact_exists("project/artifact_collection_name:latest")
assert api.artifact("project/other:latest").version == "v0"
