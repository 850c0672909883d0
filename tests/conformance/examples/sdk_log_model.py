# Source: wandb/docs models/track/log/log-models.mdx ("Log a model to a run", first snippet)
# Changed: the import line; placeholders <your-project>, <your-entity>, <path-to-model>, <name>.
import modelbay as wandb

# Setup (not in the source): a model file.
with open("model.h5", "wb") as f:
    f.write(b"weights")

# Initialize a W&B run
with wandb.init(project="mnist-experiments", entity="charlie") as run:

    # Log the model
    run.log_model(path="./model.h5", name="MNIST")
