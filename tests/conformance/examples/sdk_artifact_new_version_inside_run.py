# Source: wandb/docs models/artifacts/create-a-new-artifact-version.mdx ("Inside a run",
# then "Create a new artifact version from an existing version", inside a run)
# Changed: the import line; placeholders artifact_name/artifact_type and the file names.
import modelbay as wandb

# Setup (not in the source): the files the page assumes exist.
import os
os.makedirs("dir_to_remove", exist_ok=True)
open("image1.png", "wb").write(b"\x89PNG one")
open("dir_to_remove/x.txt", "w").write("x")
open("file_to_add.txt", "w").write("added")

with wandb.init() as run:
    artifact = wandb.Artifact("my_artifact", "dataset")

    # Add Files and Assets to the artifact using
    # `.add`, `.add_file`, `.add_dir`, and `.add_reference`
    artifact.add_file("image1.png")
    artifact.add_dir("dir_to_remove", name="dir_to_remove")
    run.log_artifact(artifact)

with wandb.init(job_type="modify dataset") as run:
    saved_artifact = run.use_artifact(
        "my_artifact:latest"
    )  # fetch artifact and input it into your run
    draft_artifact = saved_artifact.new_draft()  # create a draft version

    # modify a subset of files in the draft version
    draft_artifact.add_file("file_to_add.txt")
    draft_artifact.remove("dir_to_remove/")
    run.log_artifact(
        draft_artifact
    )  # log your changes to create a new version and mark it as output to your run
