# Source: wandb/docs models/artifacts/update-an-artifact.mdx ("Public API only")
# Changed: the import line; placeholder entity/project/artifact:alias.
import modelbay as wandb

# Setup (not in the source): the artifact to update.
with open("data.csv", "w") as f:
    f.write("a\n1\n")
with wandb.init(project="project") as setup:
    setup.log_artifact("data.csv", name="artifact", type="dataset", aliases=["alias"])

api = wandb.Api()

artifact = api.artifact("entity/project/artifact:alias")

# Update the description
artifact.description = "My new description"

# Selectively update metadata keys
artifact.metadata["oldKey"] = "new value"

# Replace the metadata entirely
artifact.metadata = {"newKey": "new value"}

# Add an alias
artifact.aliases.append("best")

# Remove an alias
artifact.aliases.remove("latest")

# Completely replace the aliases
artifact.aliases = ["replaced"]

# Persist all artifact modifications
artifact.save()

# Check (not in the source): 'latest' stays on the newest version.
assert sorted(api.artifact("project/artifact:replaced").aliases) == ["latest", "replaced"]
