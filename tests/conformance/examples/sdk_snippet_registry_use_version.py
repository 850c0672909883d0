# Source: wandb/docs snippets/en/_includes/code-examples/log_existing_artifact_link_collection.py
# Changed: the import line; placeholders <registry_name>, <collection_name>, <entity>,
# <project>.
"""
Download and log an existing artifact from a W&B registry collection.
Replace the placeholders with actual registry, collection names, entity,
project, and version.
"""
import modelbay as wandb

# Setup (not in the source): a version linked into the collection.
with open("model.pt", "wb") as f:
    f.write(b"weights")
with wandb.init(project="training") as setup:
    logged = setup.log_artifact("model.pt", name="clf", type="model")
    logged.link("wandb-registry-model/Fraud Classifier")

# Construct the full artifact name with version
registry_name = "model"  # Specify the registry name
collection_name = "Fraud Classifier" # Specify the collection name
version = 0 # Specify the version of the artifact to use
artifact_name_registry = f"wandb-registry-{registry_name}/{collection_name}:v{version}"

# Initialize a W&B run in the different team and project
with wandb.init(entity="other-team", project="serving") as run:
    # Use the model artifact from the registry
    registry_model = run.use_artifact(artifact_or_name=artifact_name_registry)

    # Download the model to a local directory
    local_model_path = registry_model.download()
