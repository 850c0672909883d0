# Source: wandb/docs content/en/guides/models/track/public-api-guide.md ("Download a file from a run")
# Changed: the import line; placeholder <entity>/<project>/<run_id>.
import modelbay as wandb

# Setup (not in the source): a run holding model-best.h5.
import os

with wandb.init(project="cifar") as setup_run:
    setup_run.log({"acc": 0.9})
os.makedirs("saved", exist_ok=True)
open("saved/model-best.h5", "w").write("weights")
wandb.Api().run(f"cifar/{setup_run.id}").upload_file("saved/model-best.h5", root="saved")
os.remove("saved/model-best.h5")
RUN_PATH = f"my-team/cifar/{setup_run.id}"

api = wandb.Api()

run = api.run(RUN_PATH)
run.file("model-best.h5").download()

# Check (not in the source).
assert open("model-best.h5").read() == "weights"
