# Source: wandb/docs models/registry/link_version.mdx ("Link an artifact version outside the
# context of a run")
# Changed: the import line; placeholders [NAME], [TYPE], [LOCAL-PATH-TO-ARTIFACT],
# [REGISTRY-NAME], [COLLECTION-NAME].
import modelbay as wandb

# Setup (not in the source): the file to link.
with open("raw.csv", "w") as f:
    f.write("a,b\n1,2\n")

# Create an artifact object
# The type parameter specifies both the type of the
# artifact object and the collection type
artifact = wandb.Artifact(name = "raw-images", type = "dataset")

# Add the file to the artifact object.
# Specify the path to the file on your local machine.
artifact.add_file(local_path = "raw.csv")

# Specify the collection and registry to link the artifact to
REGISTRY_NAME = "Dataset"
COLLECTION_NAME = "raw_images"
target_path=f"wandb-registry-{REGISTRY_NAME}/{COLLECTION_NAME}"

# Link the artifact to the collection
artifact.link(target_path = target_path)
