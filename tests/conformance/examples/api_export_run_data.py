# Source: wandb/docs content/en/guides/models/track/public-api-guide.md ("Export Run Data", "Understanding different run attributes")
# Changed: the import line; placeholders <entity>/<project>/<run_id>.
import modelbay as wandb

# Setup (not in the source): the page's own example run, logged first.
import random

with wandb.init(project="public-api-example") as run:
    n_epochs = 5
    config = {"n_epochs": n_epochs}
    run.config.update(config)
    for n in range(run.config.get("n_epochs")):
        run.log(
            {"val": random.randint(0, 1000), "loss": (random.randint(0, 1000) / 1000.00)}
        )
run_id = run.id

api = wandb.Api()
run = api.run(f"my-team/public-api-example/{run_id}")

print(run.config)
print(run.history())
print(run.summary)
assert run.config == {"n_epochs": 5}
assert len(run.history()) == 5 and "loss" in run.summary
