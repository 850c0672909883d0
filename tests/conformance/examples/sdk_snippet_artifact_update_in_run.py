# Source: wandb/docs snippets/_includes/code-examples/artifact_update.py
# Changed: the import line; placeholders <entity>, <project>, <artifact>, <alias>,
# <description>.
"""
Update an existing W&B artifact's description within a W&B run.

This code initializes a W&B run, retrieves the specified artifact by name and alias,
updates its description, and saves the changes.
"""
import modelbay as wandb

# Setup (not in the source): the artifact.
with open("data.csv", "w") as f:
    f.write("a\n1\n")
with wandb.init(project="updates") as setup:
    setup.log_artifact("data.csv", name="survey", type="dataset", aliases=["clean"])

with wandb.init(entity="research", project="updates") as run:
    # Retrieve the artifact by name and alias
    artifact = run.use_artifact(artifact_or_name="survey:clean")
    # Update the artifact's description
    artifact.description = "Survey answers, deduplicated."
    # Save the updated artifact
    artifact.save()
