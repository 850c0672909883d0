# Source: wandb/docs models/artifacts/create-a-custom-alias.mdx (both snippets)
# Changed: the import line; placeholder [PROJECT].
import modelbay as wandb

# Setup (not in the source): the dataset the first snippet downloads, and the model file.
with open("bikes.csv", "w") as f:
    f.write("bike,1\n")
with open("model.h5", "wb") as f:
    f.write(b"weights")
with wandb.init(project="bikes") as setup:
    setup.log_artifact("bikes.csv", name="bike-dataset", type="dataset")

with wandb.init(project="bikes") as run:
    artifact = run.use_artifact("bike-dataset:latest")
    artifact.download()

with wandb.init(project="bikes") as run:
    artifact = wandb.Artifact("run-3nq3ctyy-bike-model", type="model")
    artifact.add_file("model.h5")
    run.log_artifact(artifact, aliases=["latest", "best-ap50"])
