# Source: wandb/docs snippets/en/_includes/code-examples/artifacts_download.py
# Changed: the import line; placeholders <project>, <artifact_name>, <alias>, <file_name>.
"""
Downloads files or entire artifacts from W&B. The same
logic applies to external artifacts.
"""

import modelbay as wandb

# Setup (not in the source): the artifact.
with open("labels.csv", "w") as f:
    f.write("x\n")
with wandb.init(project="downloads") as setup:
    setup.log_artifact("labels.csv", name="labels", type="dataset")

with wandb.init(project="downloads") as run:
    # Indicate the artifact to use. Format is "name:alias"
    artifact = run.use_artifact("labels:latest")

    # Downloads file from the artifact at path name
    # If artifact.add_reference() was used, returns the reference URL
    entry = artifact.get_entry("labels.csv")

    # Download the entire artifact
    datadir = artifact.download()
