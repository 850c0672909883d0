"""``modelbay automation`` end to end, embedded and against a server, with a receiver."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from standardwebhooks.webhooks import Webhook
from support.automations import Env
from support.processes import ServerProcess
from support.receiver import Receiver
from typer.testing import CliRunner

from modelbay.cli.main import app
from modelbay.sdk.transport import reset_transports

SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
runner = CliRunner()


def cli(*args: str, code: int = 0) -> Any:
    result = runner.invoke(app, list(args))
    assert result.exit_code == code, result.output + (result.stderr if result.stderr_bytes else "")
    return json.loads(result.stdout) if "--json" in args and code == 0 else result


@pytest.fixture(params=["embedded", "http"])
def where(
    request: pytest.FixtureRequest, env: Env, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> Iterator[str]:
    monkeypatch.setenv("MODELBAY_ALLOW_PRIVATE_DESTINATIONS", "1")
    if request.param == "embedded":
        yield "embedded"
        return
    env.services.close()
    server = ServerProcess(env.settings.data_dir, args=["--allow-private-destinations"])
    monkeypatch.setenv("MODELBAY_URL", server.url)
    monkeypatch.setenv("MODELBAY_API_KEY", server.admin_key)
    reset_transports()
    try:
        yield "http"
    finally:
        reset_transports()
        server.stop()


def test_create_test_disable_and_read_history(
    where: str, env: Env, receiver: Receiver, tmp_path: Path
) -> None:
    template = tmp_path / "t.json"
    template.write_text('{"event_type": "${event_type}", "who": "${event_author}", "k": "${KEY}"}')
    created = cli(
        "automation", "create", "gh", "--scope", "model-registry", "--on", "alias-added",
        "--alias", "prod.*", "--webhook", receiver.url + "/gh", "--secret", SECRET,
        "--header", "X-Kind=ci", "--template", str(template), "--secret-var", "KEY=s3cr3t",
        "--json",
    )  # fmt: skip
    assert created["scope"] == "registry:model" and created["signed"] is True
    assert SECRET not in json.dumps(created)
    assert [a["name"] for a in cli("automation", "list", "--json")] == ["gh"]
    tested = cli("automation", "test", "gh", "--json")
    assert tested["state"] == "succeeded"
    (got,) = receiver.wait_for(1)
    assert Webhook(SECRET).verify(got.body, got.headers) == {
        "event_type": "ADD_ARTIFACT_ALIAS",
        "who": "admin" if where == "http" else "tester",
        "k": "s3cr3t",
    }
    assert created["secret_names"] == ["KEY"] and "s3cr3t" not in json.dumps(created)
    assert got.headers["X-Kind"] == "ci"
    shown = cli("automation", "show", "gh", "--json")
    assert shown["template"] == template.read_text() and shown["headers"] == {"X-Kind": "ci"}
    history = cli("automation", "deliveries", "gh", "--json")
    assert [d["id"] for d in history] == [tested["id"]]
    assert history[0]["history"][0]["status_code"] == 200
    replayed = cli("automation", "replay", str(tested["id"]), "--json")
    assert replayed["message_id"] == tested["message_id"] and replayed["state"] == "pending"
    assert cli("automation", "disable", "gh", "--json")["enabled"] is False
    assert cli("automation", "enable", "gh", "--json")["enabled"] is True
    plain = cli("automation", "deliveries", "gh")
    assert tested["message_id"] in plain.stdout
    cli("automation", "delete", "gh", "--json")
    assert cli("automation", "list", "--json") == []


def test_bad_input_exits_2_with_the_error_shape(where: str, env: Env, tmp_path: Path) -> None:
    huge = tmp_path / "huge.json"
    huge.write_text('{"a": "' + "x" * 70_000 + '"}')
    for args, code in (
        (("--webhook", "https://h.example.com/x", "--alias", "("), "invalid_input"),
        (("--webhook", "gopher://h.example.com/x"), "invalid_input"),
        (("--webhook", "https://h.example.com/x", "--template", str(huge)), "invalid_input"),
        (("--webhook", "https://h.example.com/x", "--slack", "https://h.example.com/y"),
         "invalid_input"),
    ):  # fmt: skip
        result = cli(
            "automation", "create", "x", "--scope", "registry:model", "--on", "alias-added",
            *args, "--json", code=2,
        )  # fmt: skip
        assert json.loads(result.stderr)["error"]["code"] == code
    result = cli("automation", "show", "nope", "--json", code=2)
    assert json.loads(result.stderr)["error"]["code"] == "not_found"
    assert cli("automation", "list", "--json") == []
