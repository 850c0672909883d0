# Source: wandb/docs content/en/guides/models/track/public-api-guide.md ("Get unsampled metric data")
# Changed: the import line; placeholder <entity>/<project>/<run_id>.
import modelbay as wandb

# Setup (not in the source): a run with more points than history() samples.
with wandb.init(project="my-project") as setup_run:
    for step in range(2000):
        setup_run.log({"loss": 1 / (step + 1)})
RUN_PATH = f"my-team/my-project/{setup_run.id}"

api = wandb.Api()

run = api.run(RUN_PATH)
history = run.scan_history()
losses = [row["loss"] for row in history]

# Check (not in the source): every point, unsampled; history() samples.
assert len(losses) == 2000 and losses[0] == 1.0
assert len(run.history(pandas=False)) <= 1000
