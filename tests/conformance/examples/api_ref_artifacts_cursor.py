# Source: wandb/docs models/ref/python/public-api/api.mdx ("artifacts": "Pause iteration and resume later from the same position")
# Changed: the import line; placeholders type, entity/project/artifact_name; page_size 10 -> 2.
import modelbay as wandb

# Setup (not in the source): an artifact with five versions.
with wandb.init(project="project") as setup_run:
    for i in range(5):
        open("data.txt", "w").write(f"version {i}")
        art = wandb.Artifact("artifact_name", type="dataset")
        art.add_file("data.txt")
        setup_run.log_artifact(art)

from itertools import islice

import modelbay as wandb

api = wandb.Api()

# Consume the first page of results, then save the cursor.
page_size = 2
artifacts = api.artifacts(
    type_name="dataset",
    name="entity/project/artifact_name",
    per_page=page_size,
)
first_page = list(islice(artifacts, page_size))

saved_cursor = artifacts.cursor

# Later (e.g. in a new process), resume iteration from the saved cursor.
remaining_artifacts = api.artifacts(
    type_name="dataset",
    name="entity/project/artifact_name",
    per_page=page_size,
    start=saved_cursor,
)

# Check (not in the source).
assert [a.version for a in first_page] == ["v4", "v3"]
assert [a.version for a in remaining_artifacts] == ["v2", "v1", "v0"]
