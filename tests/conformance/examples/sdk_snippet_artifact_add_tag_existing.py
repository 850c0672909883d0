# Source: wandb/docs snippets/en/_includes/code-examples/artifact_add_tag_existing.py
# Changed: the import line; placeholder entity/project/artifact:version.
"""
Adds a tag to an existing W&B artifact.
"""
import modelbay as wandb

# Setup (not in the source): the existing artifact.
with open("data.csv", "w") as f:
    f.write("a\n1\n")
with wandb.init(project="project") as setup:
    setup.log_artifact("data.csv", name="artifact", type="dataset")

# Retrieve an existing artifact and add a tag to it
artifact = wandb.Api().artifact("entity/project/artifact:v0")
artifact.tags = ["new-tag"]
artifact.save()
