# Source: wandb/docs content/en/guides/models/track/public-api-guide.md ("Delete all files with a given extension from a run")
# Changed: the import line; placeholder <entity>/<project>/<run_id>.
import modelbay as wandb

# Setup (not in the source): a run holding a text file and two images.
with wandb.init(project="my-project") as setup_run:
    setup_run.log({"acc": 0.9})
stored = wandb.Api().run(f"my-project/{setup_run.id}")
for name in ("notes.txt", "a.png", "b.png"):
    open(name, "w").write(name)
    stored.upload_file(name)
RUN_PATH = f"my-team/my-project/{setup_run.id}"

api = wandb.Api()

run = api.run(RUN_PATH)

extension = ".png"
files = run.files()
for file in files:
    if file.name.endswith(extension):
        file.delete()

# Check (not in the source).
assert [f.name for f in api.run(RUN_PATH).files()] == ["notes.txt"]
