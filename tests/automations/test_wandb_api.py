"""W&B's automation API (``Api().create_automation``, ``OnLinkArtifact``,
``OnAddArtifactAlias``, ``SendWebhook``, ``SendNotification``, integrations) over modelbay's
automations: W&B's documented examples run, and what they create delivers.

The examples are ``tests/conformance/examples/automation_*.py`` (the conformance suite's
convention: W&B's code with its import line changed); here each also runs in embedded
mode, so that they are checked on this branch.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from support.receiver import Receiver

import modelbay
from modelbay.automations import (
    ArtifactEvent,
    OnAddArtifactAlias,
    OnLinkArtifact,
    SendNotification,
    SendWebhook,
)
from modelbay.errors import AlreadyExistsError, InvalidInputError
from modelbay.sdk.transport import reset_transports

if TYPE_CHECKING:
    from support.automations import Env

EXAMPLES = sorted((Path(__file__).parents[1] / "conformance" / "examples").glob("automation_*"))


@pytest.mark.parametrize("script", EXAMPLES, ids=[s.stem for s in EXAMPLES])
def test_wandb_documented_example_runs(script: Path, tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MODELBAY_", "WANDB_"))}
    env["MODELBAY_DIR"] = str(tmp_path / "home")
    out = subprocess.run(
        [sys.executable, str(script)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert out.returncode == 0, out.stdout + out.stderr


@pytest.fixture
def api(env: Env, monkeypatch: pytest.MonkeyPatch) -> modelbay.Api:
    monkeypatch.setenv("MODELBAY_ALLOW_PRIVATE_DESTINATIONS", "1")
    reset_transports()
    env.link("MNIST")
    return modelbay.Api()


def test_on_link_artifact_sends_webhook_with_a_wandb_payload(
    env: Env, api: modelbay.Api, receiver: Receiver
) -> None:
    hook = api.create_webhook_integration("ci", receiver.url + "/ci")
    registry = api.registry("model", entity="anyone")
    event = OnLinkArtifact(scope=registry)
    action = SendWebhook.from_integration(
        hook, payload={"type": "${event_type}", "v": "${artifact_version_string}"}
    )
    made = api.create_automation(event >> action, name="on-link", description="d")
    assert (made.name, made.event, made.scope) == ("on-link", "version-linked", "registry:model")
    assert made.description == "d"
    with pytest.raises(AlreadyExistsError):
        api.create_automation(event >> action, name="on-link")
    assert api.create_automation(event >> action, name="on-link", fetch_existing=True).name == (
        "on-link"
    )
    env.link("MNIST")
    assert env.dispatch() == 1
    (got,) = receiver.wait_for(1)
    assert got.json()["type"] == "LINK_ARTIFACT"
    assert got.json()["v"].endswith("MNIST:v1")
    assert api.delete_automation(made) is True
    assert list(api.automations()) == []


def test_on_add_alias_notifies_slack_with_block_kit(
    env: Env, api: modelbay.Api, receiver: Receiver
) -> None:
    slack = api.create_slack_integration("ml-alerts", receiver.url + "/slack")
    assert [i.channel_name for i in api.slack_integrations(entity="t")] == ["ml-alerts"]
    event = OnAddArtifactAlias(
        scope=api.collection("model-registry/MNIST"),
        filter=ArtifactEvent.alias.matches_regex("prod.*"),
    )
    action = SendNotification.from_integration(slack, title="t", text="x", level="WARN")
    api.create_automation(event >> action, name="slack-prod")
    env.link("MNIST", aliases=["staging"])
    env.link("MNIST", aliases=["production"])
    assert env.dispatch() == 1
    (got,) = receiver.wait_for(1)
    body = got.json()
    assert "production" in body["text"]
    assert [b["type"] for b in body["blocks"]][0] == "header"


def test_unsupported_filters_and_actions_are_refused(api: modelbay.Api) -> None:
    hook = api.create_webhook_integration("x", "https://example.com/hook")
    with pytest.raises(InvalidInputError):
        OnAddArtifactAlias(scope="registry:model", filter={"tag": "x"}).fields()
    with pytest.raises(InvalidInputError):
        api.create_automation(
            OnLinkArtifact(scope="registry:model", filter=ArtifactEvent.alias.eq("p"))
            >> SendWebhook.from_integration(hook),
            name="n",
        )
    with pytest.raises(InvalidInputError):
        api.create_automation(OnLinkArtifact(scope="registry:model") >> SendWebhook(hook))
