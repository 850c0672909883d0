# Source: wandb/docs models/registry/link_version.mdx ("Link an artifact version within the
# context of a run")
# Changed: the import line; placeholders [TEAM-ENTITY], [PROJECT-NAME], [NAME], [TYPE],
# [LOCAL-PATH-TO-ARTIFACT], [REGISTRY-NAME], [COLLECTION-NAME].
import modelbay as wandb

# Setup (not in the source): the file to link.
with open("model.pt", "wb") as f:
    f.write(b"weights")

entity = "team-awesome"          # Your team entity
project = "my-project"        # The name of the project that contains your artifact

# Initialize a run
with wandb.init(entity = entity, project = project) as run:

  # Create an artifact object
  # The type parameter specifies both the type of the
  # artifact object and the collection type
  artifact = wandb.Artifact(name = "my-model", type = "model")

  # Add the file to the artifact object.
  # Specify the path to the file on your local machine.
  artifact.add_file(local_path = "model.pt")

  # Specify the collection and registry to link the artifact to
  REGISTRY_NAME = "model"
  COLLECTION_NAME = "My Registered Model"
  target_path=f"wandb-registry-{REGISTRY_NAME}/{COLLECTION_NAME}"

  # Link the artifact to the collection
  run.link_artifact(artifact = artifact, target_path = target_path)
