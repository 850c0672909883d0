# Source: wandb/docs models/registry/model_registry/consume-models.mdx (first snippet)
# Changed: the import line; placeholders <project>, <entity>, <your-model-name>.
import modelbay as wandb

# Setup (not in the source): a model linked into the registry first.
with open("model.h5", "wb") as f:
    f.write(b"weights")
with wandb.init(project="mnist", entity="reviewco") as setup:
    setup.link_model(path="model.h5", registered_model_name="MNIST-dev")

# Initialize a run
run = wandb.init(project="mnist", entity="reviewco")

# Access and download model. Returns path to downloaded artifact
downloaded_model_path = run.use_model(name="model-registry/MNIST-dev:v0")
run.finish()
