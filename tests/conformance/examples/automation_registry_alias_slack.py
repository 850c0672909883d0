# Source: https://docs.wandb.ai/guides/core/automations/create-automations/slack/
#   "Create automations programmatically", Registry tab: "Example: Registry automation for
#   artifact events". Changed: the import lines; the setup block before it (not W&B's) makes
#   the registry, collection and Slack integration that W&B's example assumes exist (W&B
#   makes integrations in its UI), and the check after it is modelbay's.
import modelbay as wandb
from modelbay.automations import OnAddArtifactAlias, SendNotification

# -- setup (modelbay's) ------------------------------------------------------------------
setup = wandb.Api()
setup.create_registry("my-registry", artifact_types=["model"])
with open("model.bin", "w") as f:
    f.write("weights")
run = wandb.init(project="my-project")
artifact = wandb.Artifact("my-model", type="model")
artifact.add_file("model.bin")
run.log_artifact(artifact)
run.link_artifact(artifact, "my-registry-registry/my-model-collection")
run.finish()
setup.create_slack_integration(
    "ml-alerts", "https://hooks.slack.com/services/T000/B000/XXXX", slack_team_name="my-team"
)

# -- W&B's example -----------------------------------------------------------------------
# Initialize the W&B API
api = wandb.Api()

# Get the registry and collection
registry = api.registry("my-registry", entity="my-team")
collection = registry.collection("my-model-collection")

# Get the Slack integration
slack_integration = next(api.slack_integrations(entity="my-team"))

# Define the event: Trigger when "production" alias is added
event = OnAddArtifactAlias(
    scope=collection,
    filter={"alias": "production"}
)

# Define the action: Send notification to Slack
action = SendNotification.from_integration(
    slack_integration,
    title="Production Model Updated",
    text="A new model version has been promoted to production.",
    level="INFO"
)

# Create the automation
automation = api.create_automation(
    event >> action,
    name="production-model-alert",
    description="Notify team when a model is promoted to production"
)

print(f"Created automation: {automation.name}")

# -- check (modelbay's) ------------------------------------------------------------------
saved = api.automation(name="production-model-alert")
assert saved.event == "alias-added" and saved.action == "slack", saved
assert saved.scope == "collection:my-registry/my-model-collection", saved.scope
assert saved.info["alias_regex"] == "production", saved.info
assert [a.name for a in api.automations()] == ["production-model-alert"]
