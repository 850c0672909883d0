# Source: wandb/docs models/registry/link_version.mdx (target path
# "wandb-registry-[REGISTRY-NAME]/[COLLECTION-NAME]", with the registry named as the W&B App
# shows it, "Model"), then models/registry/download_use_artifact.mdx (Api without a run)
# Changed: the import line; placeholders.
import modelbay as wandb

with open("model.pt", "wb") as f:
    f.write(b"weights")

with wandb.init(entity="team-awesome", project="my-project") as run:
  artifact = wandb.Artifact(name = "my-model", type = "model")
  artifact.add_file(local_path = "model.pt")
  REGISTRY_NAME = "Model"
  COLLECTION_NAME = "My Registered Model"
  target_path=f"wandb-registry-{REGISTRY_NAME}/{COLLECTION_NAME}"
  run.link_artifact(artifact = artifact, target_path = target_path)

REGISTRY = "Model"
COLLECTION = "My Registered Model"
VERSION = "latest"

api = wandb.Api()
artifact_name = f"wandb-registry-{REGISTRY}/{COLLECTION}:{VERSION}"
artifact = api.artifact(name = artifact_name)

# Check (not in the source): the same version by every path W&B accepts.
for name in ["team-awesome/wandb-registry-model/My Registered Model:v0",
             "model-registry/My Registered Model:latest"]:
    assert api.artifact(name).source_qualified_name == artifact.source_qualified_name
