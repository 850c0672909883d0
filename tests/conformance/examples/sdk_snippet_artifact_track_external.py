# Source: wandb/docs snippets/_includes/code-examples/artifact_create_track_external.py
# Changed: the import line; placeholders <artifact_name>, <artifact_type>, <project>; the URI
# (a local file:// folder instead of a cloud bucket the test cannot reach).
"""
Tracks an external artifact by adding a reference to a cloud storage bucket path.
"""

import modelbay as wandb

# Setup (not in the source): the "bucket".
import os
os.makedirs("bucket/path", exist_ok=True)
for name in ("a.parquet", "b.parquet"):
    with open(f"bucket/path/{name}", "w") as f:
        f.write(name)

# Create an artifact object
artifact = wandb.Artifact(name="external-data", type="dataset")

# Add a reference to the bucket path
artifact.add_reference(uri = "file://" + os.path.abspath("bucket/path"))

# Initialize a W&B run
with wandb.init(project="external") as run:

  # Log the artifact's metadata
  run.log_artifact(artifact)
