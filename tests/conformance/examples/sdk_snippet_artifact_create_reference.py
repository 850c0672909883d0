# Source: wandb/docs snippets/en/_includes/code-examples/artifact_create.py
# Changed: the import line; placeholders <artifact_name>, <artifact_type>, <project>; the
# reference URI (a file:// URI instead of an S3 bucket the test cannot reach).
"""
Creates and logs a W&B artifact. First create an
artifact object. Next, add files, directories, or external references to the artifact.
Finally, log the artifact to a W&B run.
"""
import modelbay as wandb

# Setup (not in the source): the local files and the referenced one.
import os
os.makedirs("data/directory", exist_ok=True)
os.makedirs("bucket/path/to", exist_ok=True)
with open("data/file1.csv", "w") as f:
    f.write("a\n1\n")
with open("data/directory/file2.csv", "w") as f:
    f.write("b\n2\n")
with open("bucket/path/to/data.csv", "w") as f:
    f.write("c\n3\n")
uri = "file://" + os.path.abspath("bucket/path/to/data.csv")

# Create an artfiact object
artifact = wandb.Artifact(name="my-dataset", type="dataset")

# Add one or more files to the artifact
artifact.add_file(local_path="data/file1.csv")

# Recursively add a directory to the artifact
artifact.add_dir(local_path="data/directory")

# Add external URI reference to the artifact
artifact.add_reference(uri=uri)

with wandb.init(project="artifact-demo") as run:
    # Training and logging code goes here

    # Example of logging an artifact
    run.log_artifact(artifact)
