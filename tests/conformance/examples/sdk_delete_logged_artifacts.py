# Source: wandb/docs models/artifacts/delete-artifacts.mdx ("Delete multiple artifact versions
# with aliases", second snippet)
# Changed: the import line; placeholder entity/project/run_id; `api` (the page uses it
# without making it).
import modelbay as wandb

# Setup (not in the source): a run that logged two versions, one with a custom alias.
with open("m.bin", "w") as f:
    f.write("0")
with wandb.init(project="project") as setup:
    setup.log_artifact("m.bin", name="model", type="model", aliases=["candidate"])
    with open("m.bin", "w") as f:
        f.write("1")
    setup.log_artifact("m.bin", name="model", type="model")
api = wandb.Api()
run_id = setup.id

run = api.run(f"entity/project/{run_id}")

for artifact in run.logged_artifacts():
    # Set delete_aliases=True in order to delete
    # artifacts with one more aliases
    artifact.delete(delete_aliases=True)
