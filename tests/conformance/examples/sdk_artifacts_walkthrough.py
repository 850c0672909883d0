# Source: wandb/docs models/artifacts/artifacts-walkthrough.mdx ("Putting this together" and
# "Download and use the artifact")
# Changed: the import line.
import modelbay as wandb

# Setup (not in the source): the dataset file.
with open("dataset.h5", "wb") as f:
    f.write(b"rows")

wandb.login()

with wandb.init(project="artifacts-example", job_type="upload-dataset") as run:
    artifact = wandb.Artifact(name="bicycle-dataset", type="dataset")
    artifact.add_file(local_path="dataset.h5")
    run.log_artifact(artifact)

# Create a W&B Run. Here you specify 'training' for 'type'
# because you use this run to track training.
with wandb.init(project="artifacts-example", job_type="training") as run:

  # Query W&B for an artifact and mark it as input to this run
  artifact = run.use_artifact("bicycle-dataset:latest")

  # Download the artifact's contents
  artifact_dir = artifact.download()
