"""The README's CI/CD recipes, read from the README itself, sent to a local receiver.

Each recipe's template is the JSON block after its ``<!-- recipe: NAME -->`` marker; the
automation is made with W&B's API as the README shows (``create_webhook_integration``,
``OnAddArtifactAlias``, ``SendWebhook.from_integration``, ``create_automation``), the
``production`` alias is set in embedded mode, and the dispatcher sends the delivery. The
receiver sees what GitHub's ``repository_dispatch`` and GitLab's pipeline trigger API take,
and the stored delivery history holds no token.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from support.receiver import Receiver

import modelbay
from modelbay.automations import OnAddArtifactAlias, SendWebhook
from modelbay.sdk.transport import reset_transports

if TYPE_CHECKING:
    from support.automations import Env

README = Path(__file__).resolve().parents[2] / "README.md"


def recipe(name: str) -> str:
    """The JSON template after ``<!-- recipe: name -->`` in the README."""
    found = re.search(
        rf"<!-- recipe: {re.escape(name)} -->\s*```json\n(.*?)```", README.read_text(), re.S
    )
    assert found, f"README has no recipe {name!r}"
    return found.group(1)


@pytest.fixture
def api(env: Env, monkeypatch: pytest.MonkeyPatch) -> modelbay.Api:
    """W&B's ``Api`` over the test's data directory, allowed to send to loopback."""
    monkeypatch.setenv("MODELBAY_ALLOW_PRIVATE_DESTINATIONS", "1")
    reset_transports()
    env.link("MNIST")  # the collection, and a first version
    return modelbay.Api()


def history_text(env: Env, name: str) -> str:
    return json.dumps(env.services.automations.deliveries(env.me, name, 10, None))


def deploy(env: Env, api: modelbay.Api, integration: Any, template: str, name: str) -> Any:
    event = OnAddArtifactAlias(
        scope=api.collection("model-registry/MNIST"), filter={"alias": "production"}
    )
    action = SendWebhook.from_integration(integration, payload=json.loads(template))
    made = api.create_automation(event >> action, name=name)
    env.link("MNIST", aliases=["production"])  # v1 gets production: the event
    env.link("MNIST", aliases=["staging"])  # filtered out
    assert env.dispatch() == 1
    return made


def test_github_repository_dispatch(env: Env, api: modelbay.Api, receiver: Receiver) -> None:
    token = "ghp_recipeTestToken0123456789"
    github = api.create_webhook_integration(
        "github-deploy",
        receiver.url + "/repos/acme/models/dispatches",
        access_token=token,
        headers={"Accept": "application/vnd.github+json"},
    )
    assert next(api.webhook_integrations()).name == "github-deploy"
    deploy(env, api, github, recipe("github-repository-dispatch"), "deploy-on-production")
    (got,) = receiver.wait_for(1)
    assert got.method == "POST" and got.path == "/repos/acme/models/dispatches"
    headers = {k.lower(): v for k, v in got.headers.items()}
    assert headers["authorization"] == f"Bearer {token}"
    assert headers["accept"] == "application/vnd.github+json"
    assert headers["content-type"].startswith("application/json")
    body = got.json()
    # GitHub's rules: event_type a string, client_payload an object of at most 10 keys.
    assert body["event_type"] == "BUILD_AND_DEPLOY"
    payload = body["client_payload"]
    assert isinstance(payload, dict) and len(payload) <= 10
    assert payload["alias"] == "production"
    assert payload["event_author"] == "tester"
    assert payload["artifact_collection_name"] == "MNIST"
    assert payload["artifact_version_string"].endswith("MNIST:v1")
    assert payload["artifact_version"]["link"]["version"] == "v1"
    assert payload["project_name"] and payload["entity_name"]
    assert token not in history_text(env, "deploy-on-production")


def test_gitlab_pipeline_trigger(env: Env, api: modelbay.Api, receiver: Receiver) -> None:
    token = "glptt-recipeTestToken0123"
    gitlab = api.create_webhook_integration(
        "gitlab-deploy",
        receiver.url + "/api/v4/projects/42/trigger/pipeline",
        secrets={"GITLAB_TRIGGER_TOKEN": token},
    )
    deploy(env, api, gitlab, recipe("gitlab-pipeline-trigger"), "pipeline-on-production")
    (got,) = receiver.wait_for(1)
    assert got.path == "/api/v4/projects/42/trigger/pipeline"
    body = got.json()
    # GitLab's rules: the trigger token and a ref, and variables whose values are strings.
    assert body["token"] == token and body["ref"] == "main"
    variables = body["variables"]
    assert all(isinstance(v, str) and v for v in variables.values()), variables
    assert variables["MODEL_VERSION"].endswith("MNIST:v1")
    assert variables["MODEL_ALIAS"] == "production"
    assert variables["MODEL_COLLECTION"] == "MNIST"
    assert variables["EVENT_TYPE"] == "ADD_ARTIFACT_ALIAS"
    assert token not in history_text(env, "pipeline-on-production")
