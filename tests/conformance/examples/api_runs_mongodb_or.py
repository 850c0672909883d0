# Source: wandb/docs content/en/guides/models/track/public-api-guide.md ("Querying Multiple Runs", "MongoDB Style")
# Changed: the import line; placeholder username/project.
import modelbay as wandb

# Setup (not in the source): runs with three experiment names, and the page's `api`.
for name in ("foo", "bar", "baz"):
    with wandb.init(project="project", config={"experiment_name": name}) as setup_run:
        setup_run.log({"loss": 0.5})
api = wandb.Api()

runs = api.runs(
    "username/project",
    {"$or": [{"config.experiment_name": "foo"}, {"config.experiment_name": "bar"}]},
)
print(f"Found {len(runs)} runs")

# Check (not in the source).
assert len(runs) == 2
assert sorted(r.config["experiment_name"] for r in runs) == ["bar", "foo"]
