# Source: wandb/docs models/runs/delete-runs.mdx ("Delete runs", Python tab)
# Changed: the import line; placeholder [ENTITY]/[PROJECT].
import modelbay as wandb

# Setup (not in the source): two finished runs, one logging a model; one crashed run.
with wandb.init(project="project") as kept_artifact_run:
    kept_artifact_run.log({"loss": 0.5})
    with open("model.bin", "w") as f:
        f.write("weights")
    kept_artifact_run.log_artifact("model.bin", name="model", type="model")
with wandb.init(project="project") as other:
    other.log({"loss": 0.4})
crashed = wandb.init(project="project")
crashed.log({"loss": 0.3})
crashed.finish(exit_code=1)

api = wandb.Api()
runs = api.runs("entity/project")
for run in runs:
    if run.state == "finished":  # Replace with your own condition
        run.delete(delete_artifacts=False)

# Check (not in the source): only the crashed run is left; the model it logged stays,
# logged by no run now.
assert [r.id for r in wandb.Api().runs("entity/project")] == [crashed.id]
model = wandb.Api().artifact("project/model:latest")
assert model.version == "v0" and model.logged_by() is None
