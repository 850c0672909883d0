# Source: wandb/docs models/registry/model_registry/link-model-version.mdx ("Programmatically
# link a model")
# Changed: the import line; placeholders <entity>, <project>, <path-to-model> and
# <registered-model-name>.
import modelbay as wandb

# Setup (not in the source): the model file.
with open("model.h5", "wb") as f:
    f.write(b"weights")

run = wandb.init(entity="reviewco", project="mnist")
run.link_model(path="model.h5", registered_model_name="MNIST Grayscale 28x28")
run.finish()
