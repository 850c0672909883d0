# Source: wandb/docs models/registry/organize-with-tags.mdx ("Find artifact versions with a specific tag")
# Changed: the import line; placeholders [ARTIFACT-TYPE] [ARTIFACT-NAME] [TAG-1] [TAG-2].
import modelbay as wandb

# Setup (not in the source): three versions of an artifact with different tags.
with wandb.init(project="my-project") as setup_run:
    for i, tags in enumerate([["reviewed"], ["reviewed", "ready-for-review"], []]):
        open("model.bin", "w").write(f"weights {i}")
        art = wandb.Artifact("my-model", type="model")
        art.tags = tags
        art.add_file("model.bin")
        setup_run.log_artifact(art)

api = wandb.Api()
tagged_artifact_versions = api.artifacts(
    type_name = "model",
    name = "my-project/my-model",
    tags = ["reviewed", "ready-for-review"]
)

for artifact_version in tagged_artifact_versions:
    print(artifact_version.tags)

# Check (not in the source).
assert [a.version for a in tagged_artifact_versions] == ["v1"]
