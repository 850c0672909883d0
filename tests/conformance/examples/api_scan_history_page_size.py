# Source: wandb/docs content/en/guides/models/track/public-api-guide.md ("Get paginated data from history")
# Changed: the import line; placeholders <entity>/<project>/<run_id> and cols.
import modelbay as wandb

# Setup (not in the source): a run logging two metrics, and the page's `cols`.
with wandb.init(project="my-project") as setup_run:
    for step in range(300):
        setup_run.log({"loss": 1 / (step + 1), "acc": step / 300})
RUN_PATH = f"my-team/my-project/{setup_run.id}"
cols = ["loss", "acc"]

api = wandb.Api()

run = api.run(RUN_PATH)
run.scan_history(keys=sorted(cols), page_size=100)

# Check (not in the source).
rows = list(run.scan_history(keys=sorted(cols), page_size=100))
assert len(rows) == 300 and set(rows[0]) >= {"_step", "loss", "acc"}
