# Source: wandb/docs models/artifacts/explore-and-traverse-an-artifact-graph.mdx ("Use the API
# to track lineage")
# Changed: the import line; placeholders artifact_name, artifact_type.
import modelbay as wandb

# Setup (not in the source): the file the snippet adds.
with open("image1.png", "wb") as f:
    f.write(b"png")

with wandb.init() as run:
    artifact = wandb.Artifact("artifact_name", "dataset")

    # Add Files and Assets to the artifact using
    # `.add`, `.add_file`, `.add_dir`, and `.add_reference`
    artifact.add_file("image1.png")
    run.log_artifact(artifact)

# Walk up and down the graph from an artifact:
producer_run = artifact.logged_by()
consumer_runs = artifact.used_by()

# Check (not in the source).
assert producer_run.id == run.id and consumer_runs == []
