# Source: wandb/docs snippets/en/_includes/code-examples/artifact_download_partial.py
# Changed: the import line; placeholders <project>, <artifact_name>, <alias>, <file_name>.
"""
Downloads specific files or sub-folders from W&B artifacts. The same
logic applies to external artifacts.
"""
import modelbay as wandb

# Setup (not in the source): an artifact with a folder and a file.
import os
os.makedirs("images", exist_ok=True)
for name in ("images/a.png", "images/b.png", "labels.csv"):
    with open(name, "w") as f:
        f.write(name)
with wandb.init(project="partial") as setup:
    art = wandb.Artifact("pics", "dataset")
    art.add_dir("images", name="images")
    art.add_file("labels.csv")
    setup.log_artifact(art, aliases=["stable"])

with wandb.init(project="partial") as run:
    # Indicate the artifact to use. Format is "name:alias"
    artifact = run.use_artifact("pics:stable")

    # Download a specific file or sub-folder
    artifact.download(path_prefix="images/") # downloads only the specified file or folder

    # Check (not in the source): only the folder came.
    root = "artifacts/pics-v0"
    assert sorted(os.listdir(root)) == ["images"], os.listdir(root)
