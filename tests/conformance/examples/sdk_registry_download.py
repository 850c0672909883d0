# Source: wandb/docs models/registry/download_use_artifact.mdx ("Construct path to linked
# artifact": use_artifact in a run, then wandb.Api without one)
# Changed: the import line; placeholders <registry_name>, <collection_name>, <artifact_alias>,
# <team_name>, <project_name>, <version>.
import modelbay as wandb

# Setup (not in the source): a version linked into the registry with the alias.
with open("model.pt", "wb") as f:
    f.write(b"weights")
with wandb.init(project="user-stories") as setup:
    logged = setup.log_artifact("model.pt", name="phi3", type="model")
    setup.link_artifact(logged, "wandb-registry-model/phi3-finetuned", aliases=["production"])

REGISTRY = 'model'
COLLECTION = 'phi3-finetuned'
ALIAS = 'production'

with wandb.init(entity = 'product-team-applications', project = 'user-stories')  as run:
    artifact_name = f"wandb-registry-{REGISTRY}/{COLLECTION}:{ALIAS}"
    # artifact_name = '<artifact_name>' # Copy and paste Full name specified in the W&B Registry UI
    fetched_artifact = run.use_artifact(artifact_or_name = artifact_name)
    download_path = fetched_artifact.download()

REGISTRY = "model"
COLLECTION = "phi3-finetuned"
VERSION = "v0"

api = wandb.Api()
artifact_name = f"wandb-registry-{REGISTRY}/{COLLECTION}:{VERSION}"
artifact = api.artifact(name = artifact_name)
