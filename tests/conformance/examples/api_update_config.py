# Source: wandb/docs content/en/guides/models/track/public-api-guide.md ("Update config for an existing run")
# Changed: the import line; placeholders <entity>/<project>/<run_id>, "key" and updated_value.
import modelbay as wandb

# Setup (not in the source): a finished run with a config.
with wandb.init(project="my-project", config={"key": 1, "other": "kept"}) as setup_run:
    setup_run.log({"loss": 0.1})
RUN_PATH = f"my-team/my-project/{setup_run.id}"
updated_value = 2

api = wandb.Api()

run = api.run(RUN_PATH)
run.config["key"] = updated_value
run.update()

# Check (not in the source): the change was stored, the rest kept.
assert wandb.Api().run(RUN_PATH).config == {"key": 2, "other": "kept"}
