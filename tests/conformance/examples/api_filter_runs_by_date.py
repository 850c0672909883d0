# Source: wandb/docs content/en/guides/models/track/public-api-guide.md ("Filter runs", "Date")
# Changed: the import line; placeholders <entity>/<project> and the dates YYYY-MM-DDT##.
import modelbay as wandb

# Setup (not in the source): two runs, and the page's `api`.
for i in range(2):
    with wandb.init(project="my-project") as setup_run:
        setup_run.log({"loss": i})
api = wandb.Api()

runs = api.runs(
    "my-team/my-project",
    {"$and": [{"created_at": {"$lt": "2100-01-01T00", "$gt": "2020-01-01T00"}}]},
)

# Check (not in the source).
assert len(runs) == 2
assert len(api.runs("my-team/my-project", {"created_at": {"$lt": "2020-01-01T00"}})) == 0
