# Source: wandb/docs models/artifacts/construct-an-artifact.mdx ("Save your artifact to the
# W&B server", the warning's loop)
# Changed: the import line.
import modelbay as wandb

with wandb.init() as run:
    for i in range(10):
        a = wandb.Artifact(name = "race",
            type="dataset",
            metadata={
                "index": i,
            },
        )
        # ... add files to artifact a ...
        run.log_artifact(a)

# Check (not in the source): an artifact with no files is a version (W&B's empty
# manifest); the same empty content logged again is that same version, as in W&B.
race = wandb.Api().artifact(f"{run.project}/race:latest")
assert race.version == "v0" and race.file_count == 0 and race.type == "dataset"
assert race.metadata == {"index": 0}
