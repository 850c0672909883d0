"""The ``modelbay`` command as a new user meets it: the real command in a child process
(``python -m modelbay``, this checkout's code), embedded and over HTTP (fixture ``mb``).

Each test is a defect found by trying the CLI (issue #14): a bad reference that exits 0,
a wrong suggestion, the SDK and the CLI disagreeing on ``latest``, an error naming the
wrong thing, a server printing a key before failing, missing ``--version`` and ``--json``,
help folded to a sliver at 80 columns.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
import typer.main

import modelbay
from modelbay import Api, Artifact
from modelbay.cli.main import app

if TYPE_CHECKING:
    from cli.conftest import Model

#: The ``src`` directory this ``modelbay`` was imported from: the child runs the same code.
SRC = str(Path(modelbay.__file__).resolve().parents[1])


def cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """Run ``modelbay ARGS`` with the test's environment (``MODELBAY_*`` from ``mb``)."""
    environ = {**os.environ, "PYTHONPATH": SRC, "COLUMNS": "80", **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", "modelbay", *args],
        capture_output=True,
        text=True,
        env=environ,
        stdin=subprocess.DEVNULL,
        timeout=120,
    )


def ok(*args: str) -> str:
    done = cli(*args)
    assert done.returncode == 0, f"exit {done.returncode}: {done.stderr}"
    return done.stdout


def ok_json(*args: str) -> Any:
    return json.loads(ok(*args, "--json"))


def fails(*args: str) -> str:
    """A command that must fail: a non-zero exit, nothing on stdout, one line on stderr."""
    done = cli(*args)
    assert done.returncode != 0, done.stdout
    assert done.stdout == ""
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), done.stderr
    return lines[0]


def fails_json(*args: str) -> dict[str, Any]:
    """A command with ``--json`` that must fail: the error shape on stderr, nothing on stdout."""
    done = cli(*args, "--json")
    assert done.returncode != 0, done.stdout
    assert done.stdout == ""
    error = json.loads(done.stderr)["error"]
    assert set(error) == {"code", "message", "details"}, error
    assert isinstance(error["details"], dict)
    return dict(error)


# -- one test per defect ----------------------------------------------------------------------


def test_versions_of_an_unknown_version_fails(mb: Any, model: Model) -> None:
    """``versions model-registry/MNIST:nope`` listed every version and exited 0."""
    assert "'nope'" in fails("versions", f"{model.path}:nope")
    assert "'nope'" in fails("versions", f"{model.artifact}:nope")
    # A version named by alias or number is shown alone.
    assert [v["link"]["version"] for v in ok_json("versions", f"{model.path}:staging")] == ["v1"]
    assert [v["version"] for v in ok_json("versions", f"{model.artifact}:v0")] == ["v0"]


def test_link_to_a_bare_name_links_into_the_model_registry(
    mb: Any, model: Model, uniq: str
) -> None:
    """``link mnist-train/toy:v4 toy-classifier`` suggested ``project/toy-classifier``: a bare
    target is a collection of the model registry, as for ``run.link_model``."""
    assert ok("link", f"{model.artifact}:v0", f"toy{uniq}").strip() == (
        f"model-registry/toy{uniq}:v0"
    )
    assert Api().collection(f"model-registry/toy{uniq}").aliases == {"latest": "v0"}
    # A version is not a place to link into; the message names the collection meant.
    line = fails("link", f"{model.artifact}:v1", f"model-registry/toy{uniq}:v0")
    assert f"'model-registry/toy{uniq}'" in line and "[invalid_reference]" in line


def test_latest_is_one_rule_in_the_sdk_and_the_cli(mb: Any, model: Model, tmp_path: Path) -> None:
    """The SDK silently dropped a ``latest`` added by hand, which the CLI refused; and it
    refused ``aliases=["latest"]``, which W&B accepts. Now: given with a new version,
    ``latest`` is accepted (and follows the newest version); added by hand, both refuse it."""
    run = modelbay.init(project=model.project)
    weights = tmp_path / "new.bin"
    weights.write_text("newest")
    art = Artifact("net", "model")
    art.add_file(str(weights))
    run.log_artifact(art, aliases=["latest", "best"])
    run.finish()
    newest = Api().artifact(f"{model.artifact}:latest")
    assert newest.version == "v3" and sorted(newest.aliases) == ["best", "latest"]

    old = Api().artifact(f"{model.artifact}:v0")
    old.aliases.append("latest")
    with pytest.raises(modelbay.InvalidNameError) as raised:
        old.save()
    line = fails("alias", "add", f"{model.artifact}:v0", "latest")
    assert raised.value.message in line
    assert Api().artifact(f"{model.artifact}:latest").version == "v3"
    # Keeping 'latest' where it is, while adding another alias, is an ordinary edit.
    newest.aliases.append("candidate")
    newest.save()
    assert sorted(Api().artifact(f"{model.artifact}:v3").aliases) == [
        "best",
        "candidate",
        "latest",
    ]


def test_alias_remove_of_an_alias_not_set_names_it(mb: Any, model: Model) -> None:
    """``alias remove ... nonexistent`` said "no version"."""
    for holder in (model.path, model.artifact):
        line = fails("alias", "remove", holder, "nonexistent")
        assert f"alias 'nonexistent' is not set in {holder}" in line, line
        assert "no version" not in line


@pytest.fixture
def only_url(mb: Any, server: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """MODELBAY_URL is the session's server, and no MODELBAY_API_KEY is set."""
    monkeypatch.delenv("MODELBAY_API_KEY", raising=False)
    monkeypatch.setenv("MODELBAY_URL", server.url)


def test_login_with_a_wrong_key_is_not_told_to_log_in(only_url: None, server: Any) -> None:
    """A bad key at ``modelbay login`` was told to run ``modelbay login``."""
    line = fails("login", server.url, "--key", "not-a-key")
    assert "refused this API key" in line and "[unauthenticated]" in line
    assert "modelbay login" not in line
    # Other commands still point to login.
    assert "modelbay login" in fails("registries")
    assert fails_json("login", server.url, "--key", "not-a-key")["code"] == "unauthenticated"
    who = ok_json("login", server.url, "--key", server.admin_key)
    assert (who["url"], who["user"], who["is_admin"]) == (server.url, "admin", True)


def test_server_on_a_taken_port_fails_with_one_line(tmp_path: Path) -> None:
    """With the port taken, ``modelbay server`` printed an admin key and a sign-in link
    (to the other server) before failing."""
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = subprocess.run(
            [sys.executable, "-m", "modelbay", "server", "--port", str(port)],
            capture_output=True,
            text=True,
            env={
                **{k: v for k, v in os.environ.items() if not k.startswith("MODELBAY_")},
                "PYTHONPATH": SRC,
                "MODELBAY_DIR": str(tmp_path / "data"),
            },
            stdin=subprocess.DEVNULL,
            timeout=60,
        )
    assert done.returncode != 0
    assert done.stdout == ""
    assert done.stderr.splitlines() == [
        f"error: cannot listen on 127.0.0.1:{port}: Address already in use"
    ]
    assert not (tmp_path / "data").exists()  # nothing created, no admin key made


def test_version_flag() -> None:
    assert ok("--version") == f"modelbay {modelbay.__version__}\n"


#: (a command that works, the same with a reference to nothing) for every command that
#: takes a reference.
JSON_CASES = [
    (("link", "{artifact}:v1", "J{uniq}"), ("link", "{artifact}:v9", "J{uniq}")),
    (("download", "{path}:staging", "--root", "{tmp}/out"), ("download", "{path}:nope")),
    (("alias", "add", "{path}:v0", "production"), ("alias", "add", "{path}:v9", "production")),
    (("alias", "remove", "{path}", "staging"), ("alias", "remove", "{path}", "nope")),
    (("versions", "{path}:v2"), ("versions", "{path}:nope")),
    (("models", "show", "{path}"), ("models", "show", "{path}x")),
    (("history", "{path}"), ("history", "{path}x")),
    (("lineage", "{artifact}:v0"), ("lineage", "{artifact}:v9")),
]


@pytest.mark.parametrize(("good", "bad"), JSON_CASES, ids=lambda c: " ".join(c[:2]))
def test_json_everywhere(
    mb: Any,
    model: Model,
    uniq: str,
    tmp_path: Path,
    good: tuple[str, ...],
    bad: tuple[str, ...],
) -> None:
    """``--json`` was missing on ``link``, ``download`` and ``alias add|remove``; with it, a
    result is one JSON document on stdout, and an error the error shape on stderr."""
    fill = {"artifact": model.artifact, "path": model.path, "uniq": uniq, "tmp": str(tmp_path)}
    assert ok_json(*(a.format(**fill) for a in good))
    error = fails_json(*(a.format(**fill) for a in bad))
    assert error["code"] == "not_found", error


def test_json_results_of_link_download_and_alias(mb: Any, model: Model, tmp_path: Path) -> None:
    linked = ok_json("link", f"{model.artifact}:v0", f"{model.path}")
    assert linked["link"]["ref"] == f"{model.path}:v0"
    fetched = ok_json("download", f"{model.path}:staging", "--root", str(tmp_path / "d"))
    assert fetched == {"ref": f"{model.path}:v1", "directory": str(tmp_path / "d")}
    added = ok_json("alias", "add", f"{model.path}:v0", "production")
    assert added["link"]["ref"] == f"{model.path}:v0" and "production" in added["aliases"]
    removed = ok_json("alias", "remove", model.path, "production")
    assert removed == {"removed": "production", "from": f"{model.path}:v0"}


def _commands() -> list[list[str]]:
    """Every command and group of the CLI, as argument lists."""
    found: list[list[str]] = [[]]

    def walk(command: Any, path: list[str]) -> None:
        for name, sub in getattr(command, "commands", {}).items():
            found.append([*path, name])
            walk(sub, [*path, name])

    walk(typer.main.get_command(app), [])
    return found


@pytest.mark.parametrize("command", _commands(), ids=lambda c: " ".join(c) or "modelbay")
def test_help_is_readable_at_80_columns(command: list[str]) -> None:
    """At 80 columns, ``server --help`` squeezed every description into a column beside
    ``<bool>``/``<str>`` labels. Now no line is wider than 80, none is drawn in a box, and
    descriptions start within the first 40 columns."""
    text = ok(*command, "--help")
    assert "Usage:" in text
    for line in text.splitlines():
        assert not set(line) & set("│╭╰─"), line
        assert len(line) <= 80, line
        assert not line.strip() or len(line) - len(line.lstrip(" ")) <= 40, line
        # A command's summary in its group's list is whole, not cut short with '...'.
        assert line.startswith("Usage:") or not line.endswith("..."), line
