# Source: wandb/docs content/en/guides/models/track/public-api-guide.md ("Export system resource consumptions to a CSV file")
# Changed: the import line; placeholder <entity>/<project>/<run_id>.
import modelbay as wandb

# Setup (not in the source): a run with system metrics sampled every 0.2 s.
import os
import time

os.environ["MODELBAY_SYSTEM_INTERVAL"] = "0.2"
with wandb.init(project="my-project") as setup_run:
    for step in range(5):
        setup_run.log({"loss": step})
        time.sleep(0.2)
RUN_PATH = f"my-team/my-project/{setup_run.id}"

run = wandb.Api().run(RUN_PATH)

system_metrics = run.history(stream="events")
system_metrics.to_csv("sys_metrics.csv")

# Check (not in the source): system metrics only, no training metrics.
assert "loss" not in system_metrics.columns
assert all(c.startswith(("_", "system/")) for c in system_metrics.columns)
