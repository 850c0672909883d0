# Source: wandb/docs content/en/guides/models/track/public-api-guide.md ("Get the starting time for a run")
# Changed: the import line; placeholder entity/project/run_id.
import modelbay as wandb

# Setup (not in the source): a run.
with wandb.init(project="project") as setup_run:
    setup_run.log({"loss": 1})
run_id = setup_run.id

api = wandb.Api()

run = api.run(f"entity/project/{run_id}")
start_time = run.created_at

# Check (not in the source): W&B's ISO 8601 form.
import datetime

print(start_time)
assert datetime.datetime.strptime(start_time, "%Y-%m-%dT%H:%M:%SZ")
