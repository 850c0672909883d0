# Source: wandb/docs content/en/guides/models/track/public-api-guide.md ("Rename a metric in a completed run")
# Changed: the import line; placeholder <entity>/<project>/<run_id>.
import modelbay as wandb

# Setup (not in the source): a run whose summary holds old_name.
with wandb.init(project="my-project") as setup_run:
    setup_run.log({"old_name": 0.75})
RUN_PATH = f"my-team/my-project/{setup_run.id}"

api = wandb.Api()

run = api.run(RUN_PATH)
run.summary["new_name"] = run.summary["old_name"]
del run.summary["old_name"]
run.summary.update()

# Check (not in the source): the rename was stored.
stored = wandb.Api().run(RUN_PATH).summary
assert stored["new_name"] == 0.75 and "old_name" not in stored
