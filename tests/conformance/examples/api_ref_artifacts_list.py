# Source: wandb/docs models/ref/python/public-api/api.mdx ("artifacts")
# Changed: the import line; placeholders type, entity/project/artifact_name.
import modelbay as wandb

# Setup (not in the source): an artifact with three versions.
with wandb.init(project="project") as setup_run:
    for i in range(3):
        open("data.txt", "w").write(f"version {i}")
        art = wandb.Artifact("artifact_name", type="dataset")
        art.add_file("data.txt")
        setup_run.log_artifact(art)

wandb.Api().artifacts(type_name="dataset", name="entity/project/artifact_name")

# Check (not in the source).
found = wandb.Api().artifacts(type_name="dataset", name="entity/project/artifact_name")
assert [a.version for a in found] == ["v2", "v1", "v0"]
