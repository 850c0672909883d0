# Source: wandb/examples colabs/wandb-artifacts/Model_Management_Guide.ipynb (cells 6, 7 and 9:
# `wandb.log_artifact(art, aliases=...)`, `wandb.use_artifact(art)` on the module, then
# `wandb.run.link_artifact(best_model_art, model_collection_name, ["latest"])`)
# Changed: the import line; the model and data (files written below instead of torch).
import modelbay as wandb
import os

project_name = "quickstart-model-registry"
dataset_name = "mnist"
model_collection_name = "MNIST Grayscale 28x28"

os.makedirs("train_data", exist_ok=True)
with open("train_data/part-0.bin", "wb") as f:
    f.write(b"images")


def save_model(epoch, is_best=False):
    """Save model to W&B and locally if it's the best one so far."""
    ##### W&B MODEL MANAGEMENT SPECIFIC CALLS ######
    art = wandb.Artifact(f"mnist-{wandb.run.id}", "model")
    with open("model.pt", "wb") as f:
        f.write(f"state dict {epoch}".encode())
    art.add_file("model.pt")
    wandb.log_artifact(art, aliases=["best", "latest"] if is_best else None)
    return art


wandb.init(project=project_name,
    job_type="model_trainer",
    config={"epochs": 3},
)

# (Optional) Declare dataset dependency
art = wandb.Artifact(f"{dataset_name}-train", "dataset")
art.add_dir("./train_data")
wandb.use_artifact(art)

best_model_art = None
for epoch in range(wandb.config.epochs):
    wandb.log({"val_loss": 1.0 / (epoch + 1)})
    best_model_art = save_model(epoch, is_best=True)

##### W&B MODEL MANAGEMENT SPECIFIC CALLS ######
wandb.run.link_artifact(best_model_art, model_collection_name, ["latest"])

# Finish the Run
wandb.finish()
