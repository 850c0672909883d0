# Source: wandb/docs snippets/en/_includes/code-examples/artifact_add_alias.py
# Changed: the import line; placeholders <artifact_name>, <artifact_type>, <file_path>,
# <project>, <alias1>, <alias2>.
"""
Add one or more aliases to an artifact when logging it to W&B.
"""
import modelbay as wandb

# Setup (not in the source): the file.
with open("data.csv", "w") as f:
    f.write("a\n1\n")

# Create an artifact
artifact = wandb.Artifact(name="my-dataset", type="dataset")
# Add files to the artifact
artifact.add_file("data.csv")

with wandb.init(project="alias-demo") as run:
    # Log the artifact with aliases
    run.log_artifact(artifact, aliases=["latest", "best"])
