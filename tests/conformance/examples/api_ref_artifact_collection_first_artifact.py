# Source: wandb/docs models/ref/python/public-api/api.mdx ("artifact_collection")
# Changed: the import line; placeholders type, entity/project/artifact_name.
import modelbay as wandb

# Setup (not in the source): an artifact with two versions.
with wandb.init(project="project") as setup_run:
    for i in range(2):
        open("data.txt", "w").write(f"version {i}")
        art = wandb.Artifact("artifact_name", type="dataset")
        art.add_file("data.txt")
        setup_run.log_artifact(art)

collections = wandb.Api().artifact_collection(
    type_name="dataset", name="entity/project/artifact_name"
)

# Get the first artifact in the collection
artifact_example = collections.artifacts()[0]

# Download the contents of the artifact to the specified root directory.
artifact_example.download()

# Check (not in the source).
assert artifact_example.version == "v1"
import os
assert any(open(os.path.join(d, f)).read() == "version 1" for d, _, fs in os.walk("artifacts") for f in fs)
