# Source: wandb/docs content/en/guides/models/track/public-api-guide.md ("Update metrics for a run, after the run has finished")
# Changed: the import line; placeholder <entity>/<project>/<run_id>; the histogram line left out (modelbay has no wandb.Histogram).
import modelbay as wandb

# Setup (not in the source): a finished run.
with wandb.init(project="my-project") as setup_run:
    setup_run.log({"accuracy": 0.5})
RUN_PATH = f"my-team/my-project/{setup_run.id}"

api = wandb.Api()

run = api.run(RUN_PATH)
run.summary["accuracy"] = 0.9
run.summary.update()

# Check (not in the source).
assert wandb.Api().run(RUN_PATH).summary["accuracy"] == 0.9
