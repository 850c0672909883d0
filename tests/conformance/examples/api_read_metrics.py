# Source: wandb/docs content/en/guides/models/track/public-api-guide.md ("Read metrics from a run")
# Changed: the import line; placeholder <entity>/<project>/<run_id>.
import modelbay as wandb

# Setup (not in the source): a finished run that logged accuracy.
with wandb.init(project="my-project") as setup_run:
    for step in range(10):
        setup_run.log({"accuracy": step / 10})
RUN_PATH = f"my-team/my-project/{setup_run.id}"

api = wandb.Api()

run = api.run(RUN_PATH)
if run.state == "finished":
    for i, row in run.history().iterrows():
        print(row["_timestamp"], row["accuracy"])

# Check (not in the source).
assert run.state == "finished"
assert list(run.history()["accuracy"]) == [step / 10 for step in range(10)]
