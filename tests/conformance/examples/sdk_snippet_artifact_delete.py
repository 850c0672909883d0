# Source: wandb/docs snippets/en/_includes/code-examples/artifact_delete.py
# Changed: the import line; placeholders <entity>/<project>/<run_path>, <version_number>.
"""
Delete specific artifact version from a W&B run. Set delete_aliaes to `True`
if the artifact has an alias attached to it.
"""
import modelbay as wandb

# Setup (not in the source): a run that logged v0 and v1, v1 with an alias.
with wandb.init(project="project") as setup:
    for content in ("0", "1"):
        with open("m.bin", "w") as f:
            f.write(content)
        setup.log_artifact("m.bin", name="model", type="model",
                           aliases=["candidate"] if content == "1" else None)
run_path = setup.id

# Initialize W&B API
api = wandb.Api()

# Get the run by its path. Consists of <entity>/<project>/<run_path>
runs = api.run(f"entity/project/{run_path}")

# wandb.Api().Run.logged_artifacts() returns a list of artifact versions
# that consists of artifact name and version <artifact_name>:v<version_number>
for artifact_version in runs.logged_artifacts():
    # Index the last two characters of the artifact version name (str) that
    # consists of the version number
    if artifact_version.name[-2:] == "v"+ "1":
        artifact_version.delete(delete_aliases=True)

# Check (not in the source): v1 is gone, and 'latest' is back on v0.
assert api.artifact("project/model:latest").version == "v0"
