# Source: wandb/docs models/artifacts/create-a-new-artifact-version.mdx ("Outside of a run",
# both snippets)
# Changed: the import line; placeholders artifact_name/artifact_type and the file names.
import modelbay as wandb

# Setup (not in the source): the files the page assumes exist.
open("image1.png", "wb").write(b"\x89PNG one")
open("deleted_file.txt", "w").write("old")
open("modified_file.txt", "w").write("new")

artifact = wandb.Artifact("my_artifact", "dataset")
# Add Files and Assets to the artifact using
# `.add`, `.add_file`, `.add_dir`, and `.add_reference`
artifact.add_file("image1.png")
artifact.add_file("deleted_file.txt")
artifact.save()

client = wandb.Api()
saved_artifact = client.artifact("my_artifact:latest")  # load your artifact
draft_artifact = saved_artifact.new_draft()  # create a draft version

# modify a subset of files in the draft version
draft_artifact.remove("deleted_file.txt")
draft_artifact.add_file("modified_file.txt")
draft_artifact.save()  # commit changes to the draft
