# Source: wandb/docs models/artifacts/update-an-artifact.mdx ("During a run")
# Changed: the import line; placeholders <example>, <artifact-name>, <alias>, <description>.
import modelbay as wandb

# Setup (not in the source): the artifact to update.
with open("data.csv", "w") as f:
    f.write("a\n1\n")
with wandb.init(project="example") as setup:
    setup.log_artifact("data.csv", name="my-dataset", type="dataset", aliases=["stable"])

with wandb.init(project="example") as run:
    artifact = run.use_artifact("my-dataset:stable")
    artifact.description = "Cleaned rows, one per bike."
    artifact.save()
