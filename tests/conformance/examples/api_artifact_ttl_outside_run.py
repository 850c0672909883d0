# Source: wandb/docs models/artifacts/ttl.mdx ("Set a TTL policy outside of a run")
# Changed: the import line; placeholder "entity/project/artifact:alias".
import modelbay as wandb

# Setup (not in the source): the snippet's timedelta, and a logged artifact.
from datetime import timedelta

with open("data.csv", "w") as f:
    f.write("a,b\n")
with wandb.init(project="project") as setup:
    setup.log_artifact("data.csv", name="artifact", type="dataset")

api = wandb.Api()

artifact = api.artifact("entity/project/artifact:latest")

artifact.ttl = timedelta(days=365)  # Delete in one year

artifact.save()

# Check (not in the source): the TTL is stored and can be removed (the page's "Deactivate a
# TTL policy"); a TTL already past deletes the version at the next gc, freeing its bytes.
assert wandb.Api().artifact("project/artifact:v0").ttl == timedelta(days=365)
artifact.ttl = None
artifact.save()
assert wandb.Api().artifact("project/artifact:v0").ttl is None
artifact.ttl = timedelta(0)
artifact.save()
result = api.gc(grace_seconds=0)
assert result["expired"] == 1 and result["freed_bytes"] == len("a,b\n")
assert not api.artifact_exists("project/artifact:v0")
