"""The CLI, run in-process through Typer's runner, embedded and over HTTP (fixture ``mb``).

Data is set up with the SDK; every command is checked through its ``--json`` output where it
has one, and its table or line for people.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from typer.testing import CliRunner, Result

from modelbay import Api
from modelbay.cli.main import app
from modelbay.settings import credentials_file, stored_key

if TYPE_CHECKING:
    from cli.conftest import Model

runner = CliRunner()


def invoke(*args: str, input: str | None = None) -> Result:
    return runner.invoke(app, list(args), input=input)


def ok(*args: str, input: str | None = None) -> str:
    result = invoke(*args, input=input)
    assert result.exit_code == 0, f"exit {result.exit_code}: {result.output}"
    return result.stdout


def ok_json(*args: str) -> Any:
    return json.loads(ok(*args, "--json"))


def fails(*args: str, input: str | None = None) -> str:
    """Run a command that must fail with one ``error: ...`` line on stderr; return that line."""
    result = invoke(*args, input=input)
    assert result.exit_code != 0, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    return lines[0]


def aliases_of(path: str) -> dict[str, str]:
    return dict(Api().collection(path).aliases)


# -- registries and models --------------------------------------------------------------------


def test_registries(mb: Any) -> None:
    found = ok_json("registries")
    by_name = {r["name"]: r for r in found}
    assert {"model", "dataset"} <= set(by_name)
    assert by_name["model"]["artifact_types"] == ["*model*"]
    table = ok("registries")
    assert "model" in table and "dataset" in table


def test_models_list_and_query(mb: Any, model: Model, uniq: str) -> None:
    found = ok_json("models", "list")
    mine = [c for c in found if c["name"] == model.name]
    assert len(mine) == 1
    assert mine[0]["ref"] == model.path and mine[0]["type"] == "model"
    assert mine[0]["version_count"] == 3
    assert [c["name"] for c in ok_json("models", "list", "--query", model.name)] == [model.name]
    assert ok_json("models", "list", "--query", f"nothing{uniq}") == []
    assert ok_json("models", "list", "--registry", "dataset", "--query", model.name) == []
    assert model.path in ok("models", "list", "-q", model.name)


def test_models_show(mb: Any, model: Model) -> None:
    Api().collection(model.path).update(description="# MNIST\nA small convnet.", tags=["cnn"])
    shown = ok_json("models", "show", model.name)
    assert shown["ref"] == model.path
    assert shown["description"].startswith("# MNIST") and shown["tags"] == ["cnn"]
    assert shown["aliases"] == {"latest": "v2", "staging": "v1"}
    versions = shown["versions"]
    assert [v["link"]["version"] for v in versions] == ["v2", "v1", "v0"]
    assert [v["ref"] for v in versions] == [f"{model.artifact}:v{i}" for i in (2, 1, 0)]
    assert versions[1]["aliases"] == ["staging"]
    # The same collection by path, and the table for people.
    assert ok_json("models", "show", model.path)["aliases"] == shown["aliases"]
    table = ok("models", "show", model.name, "--registry", "model")
    for text in ("A small convnet.", "cnn", "staging", f"{model.artifact}:v0", "v2"):
        assert text in table
    assert table.index(f"{model.artifact}:v2") < table.index(f"{model.artifact}:v0")


def test_versions_of_collection_and_artifact(mb: Any, model: Model) -> None:
    linked = ok_json("versions", model.path)
    assert [v["link"]["ref"] for v in linked] == [f"{model.path}:v{i}" for i in (2, 1, 0)]
    assert linked[0]["aliases"] == ["latest"]
    logged = ok_json("versions", model.artifact)
    assert [v["ref"] for v in logged] == [f"{model.artifact}:v{i}" for i in (2, 1, 0)]
    assert all(v["file_count"] == 1 and "link" not in v for v in logged)
    assert logged[0]["run"] == {"project": model.project, "id": model.run.split("/")[1]}
    table = ok("versions", model.artifact)
    assert "v2" in table and logged[0]["digest"][:12] in table
    assert f"{model.artifact}:v1" in ok("versions", model.path)


def test_a_project_ending_in_registry_by_path(mb: Any, tmp_path: Path, uniq: str) -> None:
    """``X-registry/name`` with no registry X is project X-registry's artifact, in every
    command that reads a version: versions, history, lineage, download."""
    import modelbay

    project = f"speech{uniq}-registry"
    (tmp_path / "a.csv").write_text("x\n1\n")
    run = modelbay.init(project=project)
    art = modelbay.Artifact("ds", "dataset")
    art.add_file(str(tmp_path / "a.csv"))
    run.log_artifact(art).wait()
    run.finish()
    assert [v["ref"] for v in ok_json("versions", f"{project}/ds")] == [f"{project}/ds:v0"]
    actions = {e["action"] for e in ok_json("history", f"{project}/ds:v0")}
    assert "artifact_version.created" in actions, actions
    assert ok_json("lineage", f"{project}/ds:v0")["root"] == f"artifact:{project}/ds:v0"
    # Neither a registry nor a project: the registry is what is missing.
    assert f"registry 'nothing{uniq}' not found" in fails("versions", f"nothing{uniq}-registry/d")


# -- aliases and links ------------------------------------------------------------------------


def test_alias_add_moves_a_collection_alias(mb: Any, model: Model) -> None:
    assert ok("alias", "add", f"{model.path}:v0", "production").strip() == (
        f"production -> {model.path}:v0"
    )
    ok("alias", "add", f"{model.path}:staging", "production")  # by alias: onto v1
    assert aliases_of(model.path)["production"] == "v1"
    moved = [e for e in ok_json("history", model.path) if e["action"] == "alias.added"][0]
    assert moved["before"] == {"alias": "production", "version": "v0"}
    assert moved["after"] == {"alias": "production", "version": "v1"}


def test_alias_remove_from_a_collection(mb: Any, model: Model) -> None:
    assert ok("alias", "remove", model.path, "staging").strip() == (
        f"removed staging from {model.path}:v1"
    )
    assert "staging" not in aliases_of(model.path)
    assert "not found" in fails("alias", "remove", model.path, "staging")


def test_alias_on_artifact_versions(mb: Any, model: Model) -> None:
    assert ok("alias", "add", f"{model.artifact}:v1", "best").strip() == (
        f"best -> {model.artifact}:v1"
    )
    assert Api().artifact(f"{model.artifact}:best").version == "v1"
    ok("alias", "add", f"{model.artifact}:v0", "best")  # moves
    assert Api().artifact(f"{model.artifact}:best").version == "v0"
    assert "best" not in Api().artifact(f"{model.artifact}:v1").aliases
    ok("alias", "remove", model.artifact, "best")
    assert not Api().artifact_exists(f"{model.artifact}:best")
    # The collection's aliases are untouched by the artifact's.
    assert aliases_of(model.path) == {"latest": "v2", "staging": "v1"}


@pytest.mark.parametrize("alias", ["latest", "v3", "bad alias!"])
def test_reserved_or_bad_alias_is_refused(mb: Any, model: Model, alias: str) -> None:
    before = aliases_of(model.path)
    assert "alias" in fails("alias", "add", f"{model.path}:v0", alias)
    assert "alias" in fails("alias", "add", f"{model.artifact}:v0", alias)
    assert fails("alias", "remove", model.path, alias)
    assert aliases_of(model.path) == before
    assert Api().artifact(f"{model.artifact}:v0").aliases == []


def test_link_prints_the_registry_version(mb: Any, model: Model, uniq: str) -> None:
    target = f"model-registry/L{uniq}"
    assert ok("link", f"{model.artifact}:v0", target).strip() == f"{target}:v0"
    assert ok(
        "link", f"{model.artifact}:v2", target, "--alias", "prod", "-a", "canary"
    ).strip() == (f"{target}:v1")
    assert aliases_of(target) == {"latest": "v1", "prod": "v1", "canary": "v1"}
    # Linking the same version again returns its link; a registry ref links its source.
    assert ok("link", f"{model.artifact}:v0", target).strip() == f"{target}:v0"
    assert ok("link", f"{model.path}:v0", target).strip() == f"{target}:v0"
    assert "registry collection" in fails("link", f"{model.artifact}:v0", model.artifact)
    assert "reserved" in fails("link", f"{model.artifact}:v1", target, "--alias", "v7")
    # 'latest' is accepted, as W&B accepts it, and follows the newest link.
    assert ok("link", f"{model.artifact}:v1", target, "-a", "latest").strip() == f"{target}:v2"
    assert aliases_of(target)["latest"] == "v2"
    assert "not found" in fails("link", f"{model.artifact}:v9", target)


# -- files, history, lineage ------------------------------------------------------------------


def test_download(mb: Any, model: Model, tmp_path: Path, uniq: str) -> None:
    out = tmp_path / "out"
    assert ok("download", f"{model.path}:staging", "--root", str(out)).strip() == str(out)
    assert (out / "model.bin").read_text() == f"weights 1 {uniq}"
    default = Path(ok("download", f"{model.artifact}:v0").strip())
    assert (tmp_path / default / "model.bin").read_text() == f"weights 0 {uniq}"
    assert "not found" in fails("download", f"{model.path}:v7")


@pytest.mark.parametrize("under", ["", "out/deeper"])
def test_download_into_a_file_is_one_typed_line_and_touches_nothing(
    mb: Any, model: Model, tmp_path: Path, under: str
) -> None:
    """A ``--root`` that is a file, or lies under one: the download's own error, not mkdir's
    ``[Errno 17] File exists``, and nothing is created or changed."""
    mine = tmp_path / "mine"
    mine.write_text("keep me")
    root = mine / under if under else mine
    line = fails("download", f"{model.path}:staging", "--root", str(root))
    assert "[invalid_path]" in line and f"{mine} is a file already" in line
    assert mine.read_text() == "keep me"


def test_history_of_collection_and_version(mb: Any, model: Model) -> None:
    events = ok_json("history", model.path)
    assert events[-1]["action"] == "collection.created"
    assert [e["id"] for e in events] == sorted((e["id"] for e in events), reverse=True)
    linked = [e for e in events if e["action"] == "version.linked"]
    assert [e["subject"] for e in linked] == [f"{model.path}:v{i}" for i in (2, 1, 0)]
    assert linked[0]["after"] == {"source": f"{model.artifact}:v2"}
    assert len(ok_json("history", model.path, "--limit", "2")) == 2
    of_v1 = ok_json("history", f"{model.path}:v1")
    assert of_v1 and all(e["subject"] == f"{model.path}:v1" for e in of_v1)
    of_artifact = ok_json("history", f"{model.artifact}:v0")
    assert "artifact_version.created" in {e["action"] for e in of_artifact}
    table = ok("history", model.path)
    assert "version.linked" in table and "alias=staging, version=v1" in table


def test_lineage_of_version_and_run(mb: Any, model: Model) -> None:
    graph = ok_json("lineage", f"{model.path}:v1")
    assert graph["root"] == f"artifact:{model.artifact}:v1"
    nodes = {n["node"]: n for n in graph["nodes"]}
    assert f"run:{model.run}" in nodes
    assert nodes[f"artifact:{model.artifact}:v1"]["links"] == [f"{model.path}:v1"]
    assert {
        "from": f"run:{model.run}",
        "to": f"artifact:{model.artifact}:v1",
        "kind": "logged",
    } in (graph["edges"])
    from_run = ok_json("lineage", model.run, "--run", "--depth", "1")
    assert from_run["root"] == f"run:{model.run}"
    assert {e["to"] for e in from_run["edges"]} == {
        f"artifact:{model.artifact}:v{i}" for i in range(3)
    }
    alone = ok_json("lineage", f"{model.artifact}:v0", "--depth", "0")
    assert [n["node"] for n in alone["nodes"]] == [f"artifact:{model.artifact}:v0"]
    assert alone["edges"] == []
    table = ok("lineage", f"{model.artifact}:v1")
    assert f"artifact:{model.artifact}:v1 *" in table and "logged" in table
    assert "not found" in fails("lineage", f"{model.project}/nosuchrun", "--run")


# -- errors -----------------------------------------------------------------------------------


def test_unknown_things_fail_with_one_line(mb: Any, model: Model, uniq: str) -> None:
    missing = f"model-registry/Nope{uniq}"
    for args in (
        ("models", "show", f"Nope{uniq}"),
        ("versions", missing),
        ("history", missing),
        ("alias", "add", f"{missing}:v0", "production"),
        ("alias", "remove", missing, "production"),
        ("versions", f"{model.project}/nope"),
        ("models", "list", "--registry", f"nope{uniq}"),
    ):
        line = fails(*args)
        assert "not found" in line and "[not_found]" in line, (args, line)
    assert "[invalid_reference]" in fails("versions", "not/a/valid/ref")
    # A name with no project is read in the default project, as W&B's Api reads it.
    assert "[not_found]" in fails("download", f"no-project{uniq}")


# -- login ------------------------------------------------------------------------------------


@pytest.fixture
def only_url(mb: Any, server: Any, monkeypatch: pytest.MonkeyPatch) -> Path:
    """MODELBAY_URL points at the session's server and no MODELBAY_API_KEY is set; returns
    the data directory (where ``login`` saves keys)."""
    monkeypatch.delenv("MODELBAY_API_KEY", raising=False)
    monkeypatch.setenv("MODELBAY_URL", server.url)
    return Path(mb.env["MODELBAY_DIR"])


def test_login_refuses_a_wrong_key_and_saves_nothing(only_url: Path, server: Any) -> None:
    assert "[unauthenticated]" in fails("login", server.url, "--key", "not-a-key")
    assert "[unauthenticated]" in fails("login", input="not-a-key\n")
    assert not credentials_file(only_url).exists()
    assert "http://" in fails("login", "ftp://example.invalid", "--key", "k")
    assert "empty" in fails("login", server.url, "--key", " ")


def test_login_saves_the_key_for_later_commands(only_url: Path, server: Any) -> None:
    assert "modelbay login" in fails("registries")  # no key yet: a hint, not a trace
    result = invoke("login", server.url + "/", input=server.admin_key + "\n")
    assert result.exit_code == 0, result.output
    assert server.admin_key not in result.output  # asked for hidden, never printed
    assert f"logged in to {server.url} as admin" in result.stdout
    assert stored_key(only_url, server.url) == server.admin_key
    assert credentials_file(only_url).stat().st_mode & 0o077 == 0
    assert "model" in {r["name"] for r in ok_json("registries")}
