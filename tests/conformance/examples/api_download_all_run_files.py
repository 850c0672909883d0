# Source: wandb/docs content/en/guides/models/track/public-api-guide.md ("Download all files from a run")
# Changed: the import line; placeholder <entity>/<project>/<run_id>.
import modelbay as wandb

# Setup (not in the source): a run holding two files.
import os

with wandb.init(project="my-project") as setup_run:
    setup_run.log({"acc": 0.9})
os.makedirs("upload/plots", exist_ok=True)
open("upload/notes.txt", "w").write("notes")
open("upload/plots/curve.png", "wb").write(b"\x89PNG")
stored = wandb.Api().run(f"my-project/{setup_run.id}")
stored.upload_file("upload/notes.txt", root="upload")
stored.upload_file("upload/plots/curve.png", root="upload")
RUN_PATH = f"my-team/my-project/{setup_run.id}"

api = wandb.Api()

run = api.run(RUN_PATH)
for file in run.files():
    file.download()

# Check (not in the source).
assert open("notes.txt").read() == "notes" and os.path.exists("plots/curve.png")
