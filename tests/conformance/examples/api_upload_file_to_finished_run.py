# Source: wandb/docs content/en/guides/models/track/public-api-guide.md ("Upload files to a finished run")
# Changed: the import line; placeholders entity/project/run_id and file_name.extension.
import modelbay as wandb

# Setup (not in the source): a finished run and the file to upload.
with wandb.init(project="project") as setup_run:
    setup_run.log({"loss": 1})
run_id = setup_run.id
open("file_name.extension", "w").write("results\n")

api = wandb.Api()

run = api.run(f"entity/project/{run_id}")
run.upload_file("file_name.extension")

# Check (not in the source).
assert [f.name for f in wandb.Api().run(f"project/{run_id}").files()] == ["file_name.extension"]
