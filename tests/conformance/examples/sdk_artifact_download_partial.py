# Source: wandb/docs models/artifacts/download-and-use-an-artifact.mdx ("Inside a run",
# "Download a partial artifact", "Use an artifact from a different project")
# Changed: the import line; placeholders <example>, <job-type>, name, my-entity, alias.
import modelbay as wandb

# Setup (not in the source): the artifact the page downloads, logged first.
import os
os.makedirs("images/bikes", exist_ok=True)
open("bike.png", "wb").write(b"bike")
open("images/bikes/red.png", "wb").write(b"red")
with wandb.init(project="example") as setup_run:
    bikes = wandb.Artifact("bike-dataset", type="dataset")
    bikes.add_file("bike.png")
    bikes.add_dir("images", name="images")
    setup_run.log_artifact(bikes)
with wandb.init(project="my-project") as setup_run:
    other = wandb.Artifact("artifact", type="dataset")
    other.add_file("bike.png")
    setup_run.log_artifact(other, aliases=["alias"])

run = wandb.init(project="example", job_type="train model")

artifact = run.use_artifact("bike-dataset:latest")

datadir = artifact.download()

name = "bike.png"
path = artifact.get_path(name)
path.download()

artifact = run.use_artifact("bike-dataset:latest")

artifact.download(path_prefix="bike.png")  # downloads only bike.png

artifact.download(path_prefix="images/bikes/")  # downloads files in the images/bikes directory

artifact = run.use_artifact("my-project/artifact:alias")

artifact = run.use_artifact("my-entity/my-project/artifact:alias")
run.finish()
