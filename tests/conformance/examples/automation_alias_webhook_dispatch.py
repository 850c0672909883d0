# Source: https://docs.wandb.ai/ref/python/automations/onaddartifactalias/ (the event, its
#   example) and https://docs.wandb.ai/guides/core/automations/create-automations/webhook/
#   ("Payload examples", GitHub repository dispatch: the payload), joined with
#   https://docs.wandb.ai/ref/python/automations/ (event >> action, create_automation).
#   Changed: the import lines; W&B's api.artifact_collection(name=..., type_name=...) is
#   modelbay's api.collection("model-registry/my-collection"); the setup block before it
#   (not W&B's) makes the collection and the webhook integration W&B's example assumes.
import modelbay as wandb
from modelbay import Api
from modelbay.automations import ArtifactEvent, OnAddArtifactAlias, SendWebhook

# -- setup (modelbay's) ------------------------------------------------------------------
with open("model.bin", "w") as f:
    f.write("weights")
run = wandb.init(project="my-project")
artifact = wandb.Artifact("my-model", type="model")
artifact.add_file("model.bin")
run.log_artifact(artifact)
run.link_artifact(artifact, "model-registry/my-collection")
run.finish()
Api().create_webhook_integration(
    "github", "https://api.github.com/repos/my-org/my-repo/dispatches", access_token="ghp_x"
)

# -- W&B's example -----------------------------------------------------------------------
api = Api()
collection = api.collection("model-registry/my-collection")

event = OnAddArtifactAlias(
    scope=collection,
    filter=ArtifactEvent.alias.eq("prod"),
)

webhook = next(api.webhook_integrations(entity="my-team"))
action = SendWebhook.from_integration(
    webhook,
    payload={
        "event_type": "BUILD_AND_DEPLOY",
        "client_payload": {
            "event_author": "${event_author}",
            "artifact_version": "${artifact_version}",
            "artifact_version_string": "${artifact_version_string}",
            "artifact_collection_name": "${artifact_collection_name}",
            "project_name": "${project_name}",
            "entity_name": "${entity_name}",
        },
    },
)
automation = api.create_automation(event >> action, name="deploy-on-prod")

# -- check (modelbay's) ------------------------------------------------------------------
saved = api.automation(name="deploy-on-prod")
assert saved.event == "alias-added" and saved.action == "webhook", saved
assert saved.info["alias_regex"] == "prod" and "ACCESS_TOKEN" in saved.info["secret_names"]
assert "ghp_x" not in repr(saved.info)
