# Source: wandb/docs models/artifacts/create-a-new-artifact-version.mdx ("Distributed runs":
# Run 1, Run 2 and Run 3)
# Changed: the import line.
import modelbay as wandb

# Setup (not in the source): the three images.
for i in (1, 2, 3):
    with open(f"image{i}.png", "wb") as f:
        f.write(bytes([i]) * 16)

with wandb.init() as run:
    artifact = wandb.Artifact("artifact_name", "artifact_type")
    # Add Files and Assets to the artifact using
    # `.add`, `.add_file`, `.add_dir`, and `.add_reference`
    artifact.add_file("image1.png")
    run.upsert_artifact(artifact, distributed_id="my_dist_artifact")

# Check (not in the source): nothing is visible before the version is finished.
project = run.project
assert not wandb.Api().artifact_exists(f"{project}/artifact_name:latest")

with wandb.init() as run:
    artifact = wandb.Artifact("artifact_name", "artifact_type")
    # Add Files and Assets to the artifact using
    # `.add`, `.add_file`, `.add_dir`, and `.add_reference`
    artifact.add_file("image2.png")
    run.upsert_artifact(artifact, distributed_id="my_dist_artifact")

with wandb.init() as run:
    artifact = wandb.Artifact("artifact_name", "artifact_type")
    # Add Files and Assets to the artifact
    # `.add`, `.add_file`, `.add_dir`, and `.add_reference`
    artifact.add_file("image3.png")
    run.finish_artifact(artifact, distributed_id="my_dist_artifact")

# Check (not in the source): one version holds the three runs' files, logged by the last
# run, and the distributed_id takes no more upserts.
done = wandb.Api().artifact(f"{project}/artifact_name:latest")
assert done.version == "v0"
assert sorted(f.path for f in done.files()) == ["image1.png", "image2.png", "image3.png"]
assert done.logged_by().id == run.id
with wandb.init() as late:
    extra = wandb.Artifact("artifact_name", "artifact_type")
    extra.add_file("image1.png")
    try:
        late.upsert_artifact(extra, distributed_id="my_dist_artifact")
    except wandb.Error as exc:
        assert "finished" in str(exc)
    else:
        raise AssertionError("an upsert after finish_artifact was accepted")
