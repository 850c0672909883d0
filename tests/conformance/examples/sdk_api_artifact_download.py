# Source: wandb/docs models/artifacts/download-and-use-an-artifact.mdx ("Outside of a run")
# Changed: the import line; placeholders entity/project/artifact:alias.
import modelbay as wandb

# Setup (not in the source): the artifact the page downloads.
open("data.csv", "w").write("a,b\n1,2\n")
with wandb.init(project="project") as setup_run:
    setup = wandb.Artifact("artifact", type="dataset")
    setup.add_file("data.csv")
    setup_run.log_artifact(setup, aliases=["alias"])

api = wandb.Api()
artifact = api.artifact("entity/project/artifact:alias")

artifact.download()
