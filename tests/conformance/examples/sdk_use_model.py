# Source: wandb/docs models/track/log/log-models.mdx ("Example: Download and use a logged model")
# Changed: the import line.
import modelbay as wandb

# Setup (not in the source): the model the page downloads, logged first.
with open("model.pt", "wb") as f:
    f.write(b"weights")
with wandb.init(project="NLP_Experiments", entity="luka") as setup:
    setup.log_model(path="model.pt", name="fine-tuned-model")

entity = "luka"
project = "NLP_Experiments"
alias = "latest"  # semantic nickname or identifier for the model version
model_artifact_name = "fine-tuned-model"

# Initialize a run
with wandb.init(project=project, entity=entity) as run:
    # Access and download model. Returns path to downloaded artifact
    downloaded_model_path = run.use_model(name = f"{model_artifact_name}:{alias}")

# Check (not in the source): one file, so the path is the file itself.
assert open(downloaded_model_path, "rb").read() == b"weights"
