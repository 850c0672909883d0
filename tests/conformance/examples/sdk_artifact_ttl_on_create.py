# Source: wandb/docs models/artifacts/ttl.mdx ("Set a TTL policy when you create an artifact")
# Changed: the import line; placeholders <my-project-name>, <my-entity>, <artifact-name>,
# <type>, <my_file>.
import modelbay as wandb
from datetime import timedelta

# Setup (not in the source): the file to log.
with open("my_file.txt", "w") as f:
    f.write("rows")

with wandb.init(project="my-project-name", entity="my-entity") as run:
    artifact = wandb.Artifact(name="artifact-name", type="dataset")
    artifact.add_file("my_file.txt")

    artifact.ttl = timedelta(days=30)  # Set TTL policy
    run.log_artifact(artifact)

# Check (not in the source): the TTL is read back, and gc keeps the version until it expires.
api = wandb.Api()
assert api.artifact("my-project-name/artifact-name:latest").ttl == timedelta(days=30)
assert api.gc(grace_seconds=0)["expired"] == 0
assert api.artifact_exists("my-project-name/artifact-name:v0")
