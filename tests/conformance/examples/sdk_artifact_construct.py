# Source: wandb/docs models/artifacts/construct-an-artifact.mdx ("Putting this all together")
# Changed: the import line; placeholders [NAME] [TYPE] [PROJECT] [JOB-TYPE] and the paths.
import modelbay as wandb

# Setup (not in the source): the file and directory the page assumes exist.
import os
os.makedirs("path/to/directory", exist_ok=True)
open("path/to/file.txt", "w").write("hello")
open("path/to/directory/a.txt", "w").write("a")

artifact = wandb.Artifact(name="my-dataset", type="dataset")
artifact.add_file(local_path="path/to/file.txt", name="file.txt")
artifact.add_dir(local_path="path/to/directory", name="directory")

with wandb.init(project="my-project", job_type="upload dataset") as run:
    run.log_artifact(artifact)
