# Source: wandb/docs content/en/guides/models/track/public-api-guide.md ("Read specific metrics from a run")
# Changed: the import line; placeholder <entity>/<project>/<run_id>.
import modelbay as wandb

# Setup (not in the source): a run that logs accuracy on every other step only.
with wandb.init(project="my-project") as setup_run:
    for step in range(10):
        row = {"loss": 1 / (step + 1)}
        if step % 2 == 0:
            row["accuracy"] = step / 10
        setup_run.log(row)
RUN_PATH = f"my-team/my-project/{setup_run.id}"

api = wandb.Api()

run = api.run(RUN_PATH)
if run.state == "finished":
    for i, row in run.history(keys=["accuracy"]).iterrows():
        print(row["_timestamp"], row["accuracy"])

# Check (not in the source): only the steps that logged accuracy.
assert list(run.history(keys=["accuracy"])["_step"]) == [0, 2, 4, 6, 8]
