# Source: wandb/docs snippets/en/_includes/code-examples/artifact_add_alias_existing.py
# Changed: the import line; placeholders entity/project/artifact:version, <new-alias>.
"""
Adds an alias to an existing W&B artifact.
"""
import modelbay as wandb

# Setup (not in the source): the existing artifact.
with open("data.csv", "w") as f:
    f.write("a\n1\n")
with wandb.init(project="project") as setup:
    setup.log_artifact("data.csv", name="artifact", type="dataset")

# Retrieve an existing artifact and add an alias to it
artifact = wandb.Api().artifact("entity/project/artifact:v0")
artifact.aliases = ["production"]
artifact.save()

# Check (not in the source).
assert "production" in wandb.Api().artifact("project/artifact:production").aliases
