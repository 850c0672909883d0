"""The store and service contract, run against SQLite and PostgreSQL alike.

Every test gets a fresh database of each kind from the ``db_url`` fixture and builds the
services on it the way a transport does (``Services.open``). Tests assert what a caller can
observe: returned values, what the database holds, and the audit events.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from support.workers import stored_file

import modelbay.store.database as database_module
from modelbay.errors import (
    ConflictError,
    InvalidInputError,
    InvalidNameError,
    InvalidPathError,
    NotFoundError,
    PermissionDeniedError,
)
from modelbay.names import ArtifactRef, RegistryRef
from modelbay.services import Principal, Services
from modelbay.services.core import record
from modelbay.settings import Settings
from modelbay.store.database import HEAD_REVISION, Database
from modelbay.store.schema import collections, events, metadata

MIGRATIONS = Path(database_module.__file__).parent / "migrations"


@dataclass
class Env:
    """Services on a fresh database, a principal, and shortcuts to make versions."""

    services: Services
    me: Principal

    @property
    def db(self) -> Database:
        return self.services.db

    def file(self, content: str, path: str = "model.bin") -> dict[str, Any]:
        """Store ``content`` as a blob; returns its manifest entry."""
        return stored_file(self.services, self.me, content, path)

    def commit(
        self, name: str, content: str, *, type_: str = "model", project: str = "proj", **kw: Any
    ) -> dict[str, Any]:
        info, _ = self.services.artifacts.commit_version(
            self.me, project, name, type_, [self.file(content)], **kw
        )
        return info

    def link(
        self, selector: str, collection: str = "coll", *, name: str = "m", **kw: Any
    ) -> dict[str, Any]:
        info, _ = self.services.registry.link(
            self.me, ArtifactRef("proj", name, selector), "model", collection, **kw
        )
        return info

    def snapshot(self) -> dict[str, list[str]]:
        """Every row of every table, to check that a refused change wrote nothing."""
        with self.db.read() as conn:
            return {
                t.name: sorted(repr(tuple(r)) for r in conn.execute(sa.select(t)))
                for t in metadata.sorted_tables
            }

    def collection_id(self, name: str) -> int:
        with self.db.read() as conn:
            return int(
                conn.execute(
                    sa.select(collections.c.id).where(collections.c.name == name)
                ).scalar_one()
            )

    def actions(self, **scope: Any) -> list[str]:
        """Actions of the events matching ``scope`` columns, oldest first."""
        with self.db.read() as conn:
            stmt = sa.select(events.c.action).order_by(events.c.id)
            for column, value in scope.items():
                stmt = stmt.where(events.c[column] == value)
            return list(conn.execute(stmt).scalars())


@pytest.fixture
def env(tmp_path: Path, db_url: str) -> Iterator[Env]:
    services = Services.open(Settings(data_dir=tmp_path, db_url=db_url))
    try:
        yield Env(services, services.auth.local_principal("alice"))
    finally:
        services.close()


def reg_ref(selector: str, collection: str = "coll") -> RegistryRef:
    return RegistryRef("model", collection, selector)


def art_ref(selector: str, name: str = "m") -> ArtifactRef:
    return ArtifactRef("proj", name, selector)


# -- migrations ------------------------------------------------------------------------------


def test_head_revision_is_alembics_head() -> None:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    heads = ScriptDirectory.from_config(cfg).get_heads()
    assert heads == [HEAD_REVISION]


def revisions(db: Database) -> list[str]:
    with db.read() as conn:
        return list(conn.exec_driver_sql("SELECT version_num FROM alembic_version").scalars())


def test_migrations_build_the_declared_schema_on_a_fresh_database(db_url: str) -> None:
    db = Database(db_url)
    try:
        assert revisions(db) == [HEAD_REVISION]
        with db.engine.connect() as conn:
            tables = set(sa.inspect(conn).get_table_names())
            diff = compare_metadata(MigrationContext.configure(conn), metadata)
        assert set(metadata.tables) <= tables
        assert diff == [], "migrations and store/schema.py disagree"
    finally:
        db.dispose()


def test_reopening_a_migrated_database_changes_nothing(env: Env, tmp_path: Path) -> None:
    env.commit("m", "one")
    env.link("v0")
    before = env.snapshot()
    url = env.db.url
    for _ in range(2):
        again = Services.open(Settings(data_dir=tmp_path, db_url=url))
        try:
            assert revisions(again.db) == [HEAD_REVISION]
            names = [r["name"] for r in again.registry.list_registries(env.me)]
            assert names == ["model", "dataset"]
            assert again.artifacts.get(env.me, reg_ref("latest"))["ref"] == "proj/m:v0"
        finally:
            again.close()
    assert env.snapshot() == before


# -- artifact versions ------------------------------------------------------------------------


def test_versions_are_numbered_from_v0_and_latest_follows_the_newest(env: Env) -> None:
    made = [env.commit("m", f"content {i}") for i in range(4)]
    assert [v["version"] for v in made] == ["v0", "v1", "v2", "v3"]
    assert [v["index"] for v in made] == [0, 1, 2, 3]
    listed = env.services.artifacts.list_versions(env.me, "proj", "m")
    assert [v["version"] for v in listed] == ["v3", "v2", "v1", "v0"]
    assert listed[0]["aliases"] == ["latest"]
    assert all(v["aliases"] == [] for v in listed[1:])
    assert env.services.artifacts.get(env.me, art_ref("latest"))["version"] == "v3"
    # Numbers belong to one artifact: another one starts again at v0.
    assert env.commit("other", "content 0")["version"] == "v0"


def test_same_content_is_not_a_new_version(env: Env) -> None:
    first = env.commit("m", "same")
    env.commit("m", "different")
    before = env.snapshot()
    info, created = env.services.artifacts.commit_version(
        env.me, "proj", "m", "model", [env.file("same")]
    )
    assert created is False and info["created"] is False
    assert info["version"] == "v0" and info["id"] == first["id"]
    assert env.snapshot() == before
    # The same bytes under another path are other content.
    moved, created = env.services.artifacts.commit_version(
        env.me, "proj", "m", "model", [env.file("same", path="renamed.bin")]
    )
    assert created is True and moved["version"] == "v2"


def test_an_artifact_keeps_its_type(env: Env) -> None:
    env.commit("m", "a model")
    rows = env.file("rows")
    before = env.snapshot()
    with pytest.raises(ConflictError) as caught:
        env.services.artifacts.commit_version(env.me, "proj", "m", "dataset", [rows])
    assert caught.value.details == {"type": "model"}
    assert env.snapshot() == before


@pytest.mark.parametrize(
    "path",
    [
        "../escape.bin",
        "weights/../../escape.bin",
        "..",
        "/etc/passwd",
        "C:/weights.bin",
        "weights\\model.bin",
        "model\x00.bin",
        "model\n.bin",
        "weights//model.bin",
        "./model.bin",
        "weights/",
        "",
    ],
)
def test_unsafe_paths_are_refused_and_nothing_is_written(env: Env, path: str) -> None:
    good = env.file("bytes")
    before = env.snapshot()
    with pytest.raises(InvalidPathError):
        env.services.artifacts.commit_version(
            env.me, "fresh", "m", "model", [good, {**good, "path": path}]
        )
    assert env.snapshot() == before
    with pytest.raises(NotFoundError):
        env.services.artifacts.list_versions(env.me, "fresh", "m")


def test_files_that_are_not_stored_are_refused(env: Env) -> None:
    before = env.snapshot()
    missing = {"path": "model.bin", "sha256": "ab" * 32, "size": 3}
    with pytest.raises(InvalidInputError) as caught:
        env.services.artifacts.commit_version(env.me, "proj", "m", "model", [missing])
    assert caught.value.details == {"missing": ["ab" * 32]}
    assert env.snapshot() == before


# -- links ------------------------------------------------------------------------------------


def test_links_are_numbered_in_link_order(env: Env) -> None:
    for i in range(4):
        env.commit("m", f"content {i}")
    made = [env.link(selector) for selector in ("v3", "v1", "v0", "v2")]
    assert [x["link"]["version"] for x in made] == ["v0", "v1", "v2", "v3"]
    assert [x["version"] for x in made] == ["v3", "v1", "v0", "v2"]
    for link_index, source in enumerate(("v3", "v1", "v0", "v2")):
        info = env.services.artifacts.get(env.me, reg_ref(f"v{link_index}"))
        assert info["ref"] == f"proj/m:{source}"
        assert info["link"]["ref"] == f"model-registry/coll:v{link_index}"
    # Another collection numbers its own links from v0.
    assert env.link("v2", "other")["link"]["version"] == "v0"


def test_linking_a_version_twice_returns_its_link(env: Env) -> None:
    env.commit("m", "one")
    first, created = env.services.registry.link(env.me, art_ref("v0"), "model", "coll")
    assert created is True
    before = env.snapshot()
    again, created = env.services.registry.link(env.me, art_ref("v0"), "model", "coll")
    assert created is False and again["created"] is False
    assert again["link"]["id"] == first["link"]["id"]
    assert again["link"]["version"] == "v0"
    assert env.snapshot() == before
    # Through another reference to the same version (an alias) it is still the same link.
    third, created = env.services.registry.link(env.me, art_ref("latest"), "model", "coll")
    assert created is False and third["link"]["id"] == first["link"]["id"]


def test_first_link_records_collection_created(env: Env) -> None:
    env.commit("m", "one")
    env.link("v0")
    env.link("v0", "other")
    env.commit("m", "two")
    env.link("v1")
    assert env.actions(action="collection.created") == ["collection.created"] * 2
    history = env.services.registry.history(env.me, registry="model", collection="coll")
    assert [e["action"] for e in history][-1] == "collection.created"
    assert history[-1]["subject"] == "model-registry/coll"
    assert history[-1]["after"] == {"type": "model"}


def test_an_alias_names_one_version_and_its_move_is_recorded(env: Env) -> None:
    for i in range(3):
        env.commit("m", f"content {i}")
        env.link(f"v{i}")
    reg = env.services.registry
    reg.set_alias(env.me, "model", "coll", "production", "v0")
    moved = reg.set_alias(env.me, "model", "coll", "production", "v1")
    assert moved["link"]["aliases"] == ["production"]
    assert env.services.artifacts.get(env.me, reg_ref("production"))["link"]["version"] == "v1"
    aliases = {
        v["link"]["version"]: v["link"]["aliases"]
        for v in reg.list_versions(env.me, "model", "coll")["versions"]
    }
    assert aliases == {"v2": ["latest"], "v1": ["production"], "v0": []}
    assert reg.get_collection(env.me, "model", "coll")["aliases"] == {
        "latest": "v2",
        "production": "v1",
    }
    last = reg.history(env.me, registry="model", collection="coll", limit=1)[0]
    assert last["action"] == "alias.added"
    assert last["subject"] == "model-registry/coll:v1"
    assert last["before"] == {"alias": "production", "version": "v0"}
    assert last["after"] == {"alias": "production", "version": "v1"}
    # Setting it where it already is changes nothing and records nothing.
    before = env.snapshot()
    reg.set_alias(env.me, "model", "coll", "production", "v1")
    assert env.snapshot() == before
    # Aliases given to link move too.
    env.commit("m", "content 3")
    linked = env.link("v3", aliases=["production"])
    assert linked["link"]["aliases"] == ["latest", "production"]
    assert reg.get_collection(env.me, "model", "coll")["aliases"] == {
        "latest": "v3",
        "production": "v3",
    }


def test_artifact_aliases_move_too(env: Env) -> None:
    env.commit("m", "one")
    env.commit("m", "two")
    arts = env.services.artifacts
    arts.set_alias(env.me, "proj", "m", "best", "v0")
    arts.set_alias(env.me, "proj", "m", "best", "v1")
    assert arts.get(env.me, art_ref("best"))["version"] == "v1"
    assert [v["aliases"] for v in arts.list_versions(env.me, "proj", "m")] == [
        ["best", "latest"],
        [],
    ]
    with env.db.read() as conn:
        row = conn.execute(
            sa.select(events.c.before, events.c.after)
            .where(events.c.action == "alias.added")
            .order_by(events.c.id.desc())
            .limit(1)
        ).one()
    assert row.before == {"alias": "best", "version": "v0"}
    assert row.after == {"alias": "best", "version": "v1"}


def test_latest_follows_the_newest_link_and_moves_back_on_unlink(env: Env) -> None:
    for i in range(3):
        env.commit("m", f"content {i}")
        env.link(f"v{i}")
    arts, reg = env.services.artifacts, env.services.registry
    assert arts.get(env.me, reg_ref("latest"))["link"]["version"] == "v2"
    reg.unlink(env.me, reg_ref("v2"))
    assert arts.get(env.me, reg_ref("latest"))["link"]["version"] == "v1"
    with pytest.raises(NotFoundError):
        arts.get(env.me, reg_ref("v2"))
    # Unlinking an older version leaves latest alone.
    reg.unlink(env.me, reg_ref("v0"))
    assert arts.get(env.me, reg_ref("latest"))["link"]["version"] == "v1"
    # The source versions stay; a new link takes a new number, never a freed one.
    assert arts.get(env.me, art_ref("v2"))["version"] == "v2"
    relinked = env.link("v2")
    assert relinked["link"]["version"] == "v3"
    assert arts.get(env.me, reg_ref("latest"))["link"]["version"] == "v3"
    assert [
        v["link"]["version"] for v in reg.list_versions(env.me, "model", "coll")["versions"]
    ] == [
        "v3",
        "v1",
    ]
    last = reg.history(env.me, registry="model", collection="coll")
    unlinked = [e for e in last if e["action"] == "version.unlinked"]
    assert [e["subject"] for e in unlinked] == ["model-registry/coll:v0", "model-registry/coll:v2"]
    assert unlinked[1]["before"] == {"aliases": ["latest"], "source": "proj/m:v2"}


def test_unlinking_the_only_version_leaves_no_latest(env: Env) -> None:
    env.commit("m", "one")
    env.link("v0")
    env.services.registry.unlink(env.me, reg_ref("v0"))
    with pytest.raises(NotFoundError):
        env.services.artifacts.get(env.me, reg_ref("latest"))
    assert env.services.registry.get_collection(env.me, "model", "coll")["aliases"] == {}


@pytest.mark.parametrize("alias", ["latest", "v0", "v12"])
def test_reserved_aliases_are_refused(env: Env, alias: str) -> None:
    env.commit("m", "one")
    env.link("v0")
    env.commit("m", "two")
    three = env.file("three")
    before = env.snapshot()
    with pytest.raises(InvalidNameError):
        env.services.registry.set_alias(env.me, "model", "coll", alias, "v0")
    with pytest.raises(InvalidNameError):
        env.services.artifacts.set_alias(env.me, "proj", "m", alias, "v0")
    if alias != "latest":  # given with a new version, 'latest' is accepted (as W&B does)
        with pytest.raises(InvalidNameError):
            env.link("v1", aliases=[alias])
        with pytest.raises(InvalidNameError):
            env.services.artifacts.commit_version(
                env.me, "proj", "m", "model", [three], aliases=[alias]
            )
    assert env.snapshot() == before


def test_a_dataset_is_refused_by_the_model_registry(env: Env) -> None:
    env.commit("data", "rows", type_="dataset")
    before = env.snapshot()
    with pytest.raises(ConflictError) as caught:
        env.link("v0", "sneaky", name="data")
    assert caught.value.details["type"] == "dataset"
    assert env.snapshot() == before
    with pytest.raises(NotFoundError):
        env.services.registry.get_collection(env.me, "model", "sneaky")
    assert env.services.registry.list_collections(env.me, "model") == []
    # The dataset registry takes it.
    info, created = env.services.registry.link(env.me, art_ref("v0", "data"), "dataset", "rows")
    assert created and info["link"]["ref"] == "dataset-registry/rows:v0"


def test_a_collection_keeps_its_type(env: Env) -> None:
    env.commit("m", "one")
    env.link("v0")
    env.commit("tuned", "two", type_="finetuned-model")
    before = env.snapshot()
    with pytest.raises(ConflictError) as caught:
        env.link("v0", name="tuned")
    assert caught.value.details == {"type": "model"}
    assert env.snapshot() == before


@pytest.mark.parametrize(
    "ref",
    [
        RegistryRef("model", "coll", "nope"),
        RegistryRef("model", "coll", "v9"),
        RegistryRef("model", "missing", "latest"),
        RegistryRef("unknown", "coll", "latest"),
        ArtifactRef("proj", "m", "nope"),
        ArtifactRef("proj", "m", "v9"),
        ArtifactRef("proj", "missing", "latest"),
        ArtifactRef("missing", "m", "latest"),
    ],
    ids=str,
)
def test_unknown_references_are_not_found(env: Env, ref: Any) -> None:
    env.commit("m", "one")
    env.link("v0")
    before = env.snapshot()
    with pytest.raises(NotFoundError):
        env.services.artifacts.get(env.me, ref)
    with pytest.raises(NotFoundError):
        env.services.registry.link(env.me, ref, "model", "coll")
    assert env.snapshot() == before


def test_moving_or_removing_an_alias_of_nothing_is_not_found(env: Env) -> None:
    env.commit("m", "one")
    env.link("v0")
    reg = env.services.registry
    before = env.snapshot()
    with pytest.raises(NotFoundError):
        reg.set_alias(env.me, "model", "coll", "production", "v7")
    with pytest.raises(NotFoundError):
        reg.set_alias(env.me, "model", "coll", "production", "staging")
    with pytest.raises(NotFoundError):
        reg.remove_alias(env.me, "model", "coll", "production")
    with pytest.raises(NotFoundError):
        reg.unlink(env.me, reg_ref("v7"))
    with pytest.raises(NotFoundError):
        env.services.artifacts.set_alias(env.me, "proj", "m", "best", "v7")
    with pytest.raises(NotFoundError):
        reg.get_collection(env.me, "model", "missing")
    assert env.snapshot() == before


# -- events -----------------------------------------------------------------------------------


def test_an_event_is_written_in_the_transaction_of_its_change(env: Env) -> None:
    before = env.snapshot()
    with pytest.raises(RuntimeError), env.db.write() as conn:
        record(conn, env.me, "test.happened", "nothing")
        raise RuntimeError("the change fails after its event was written")
    assert env.snapshot() == before


def test_a_link_that_fails_midway_leaves_no_collection_and_no_event(env: Env) -> None:
    env.commit("m", "one")
    before = env.snapshot()
    # A principal whose user row does not exist: the link row's foreign key fails after
    # the collection was made (and its event written) in the same transaction.
    ghost = Principal(user_id=987654321, name="ghost", is_admin=True)
    with pytest.raises(sa.exc.IntegrityError):
        env.services.registry.link(ghost, art_ref("v0"), "model", "coll")
    assert env.snapshot() == before
    with pytest.raises(NotFoundError):
        env.services.registry.get_collection(env.me, "model", "coll")


def test_history_is_newest_first_and_pages_by_id(env: Env) -> None:
    env.commit("m", "one")
    env.link("v0")
    env.commit("m", "two")
    env.link("v1", aliases=["production"])
    reg = env.services.registry
    reg.update_collection(env.me, "model", "coll", description="card")
    reg.unlink(env.me, reg_ref("v0"))

    history = reg.history(env.me, registry="model", collection="coll")
    ids = [e["id"] for e in history]
    assert ids == sorted(ids, reverse=True)
    scoped = env.actions(collection_id=env.collection_id("coll"))
    assert [e["action"] for e in history] == scoped[::-1]
    assert history[0]["action"] == "version.unlinked"
    assert history[1]["action"] == "collection.updated"
    assert all(e["actor"] == "alice" for e in history)

    # Paging with ``before`` covers the same events, each once.
    paged: list[dict[str, Any]] = []
    before = None
    while True:
        page = reg.history(env.me, registry="model", collection="coll", limit=2, before=before)
        if not page:
            break
        paged.extend(page)
        before = page[-1]["id"]
    assert paged == history

    # One version's history holds only its own events.
    one = reg.history(env.me, reg_ref("production"))
    assert [e["subject"] for e in one] == ["model-registry/coll:v1"] * len(one)
    assert [e["action"] for e in one][-1] == "version.linked"
    artifact_history = reg.history(env.me, art_ref("v1"))
    assert artifact_history[-1]["action"] == "artifact_version.created"
    assert [e["id"] for e in artifact_history] == sorted(
        (e["id"] for e in artifact_history), reverse=True
    )


# -- collections ------------------------------------------------------------------------------


def test_collections_carry_a_description_and_tags(env: Env) -> None:
    env.commit("m", "one")
    env.link("v0")
    reg = env.services.registry
    info = reg.update_collection(
        env.me, "model", "coll", description="# Model card", tags=["vision", "team a"]
    )
    assert info["description"] == "# Model card"
    assert info["tags"] == ["team a", "vision"]
    info = reg.update_collection(env.me, "model", "coll", tags=["vision"])
    assert info["tags"] == ["vision"] and info["description"] == "# Model card"
    assert [c["name"] for c in reg.list_collections(env.me, "model", "VISION")] == ["coll"]
    assert reg.list_collections(env.me, "model", "team") == []
    actions = [e["action"] for e in reg.history(env.me, registry="model", collection="coll")]
    assert actions[:4] == ["tag.removed", "tag.added", "tag.added", "collection.updated"]
    # A bad tag changes nothing, not even the description given with it.
    before = env.snapshot()
    with pytest.raises(InvalidNameError):
        reg.update_collection(env.me, "model", "coll", description="other", tags=["no/slash"])
    assert env.snapshot() == before


# -- listing ----------------------------------------------------------------------------------


def test_page_tokens_cover_every_version_exactly_once(env: Env) -> None:
    for i in range(23):
        env.commit("m", f"content {i}")
        env.link(f"v{i}")
    reg = env.services.registry
    for gone in ("v4", "v5", "v17"):
        reg.unlink(env.me, reg_ref(gone))
    expected = [i for i in range(22, -1, -1) if i not in (4, 5, 17)]
    for limit in (1, 5, 6, 20, 1000):
        seen: list[int] = []
        token = None
        pages = 0
        while True:
            page = reg.list_versions(env.me, "model", "coll", limit=limit, page_token=token)
            assert len(page["versions"]) <= limit
            seen.extend(v["link"]["index"] for v in page["versions"])
            pages += 1
            token = page["next_page_token"]
            if token is None:
                break
        assert seen == expected, f"limit {limit}"
        assert pages == max(1, -(-len(expected) // limit)), f"limit {limit}"


@pytest.mark.parametrize("token", ["abc", "-1", "1.5", " 3"])
def test_bad_page_tokens_are_invalid_input(env: Env, token: str) -> None:
    env.commit("m", "one")
    env.link("v0")
    with pytest.raises(InvalidInputError):
        env.services.registry.list_versions(env.me, "model", "coll", page_token=token)


def test_a_page_token_of_unicode_digits_is_invalid_input(env: Env) -> None:
    env.commit("m", "one")
    env.link("v0")
    with pytest.raises(InvalidInputError):
        env.services.registry.list_versions(env.me, "model", "coll", page_token="²")


# -- lineage ----------------------------------------------------------------------------------


def test_lineage_graph_grows_one_step_per_depth(env: Env) -> None:
    runs = env.services.runs
    runs.create(env.me, "proj", run_id="prep")
    runs.create(env.me, "proj", run_id="train")
    env.commit("data", "rows", type_="dataset", run_id="prep")
    env.services.artifacts.use(env.me, art_ref("v0", "data"), "proj", "train")
    env.commit("m", "weights", run_id="train")

    def graph(depth: int) -> tuple[set[str], set[tuple[str, str, str]]]:
        g = env.services.lineage.graph(env.me, ref=art_ref("v0"), depth=depth)
        assert g["root"] == "artifact:proj/m:v0"
        return {n["node"] for n in g["nodes"]}, {
            (e["from"], e["to"], e["kind"]) for e in g["edges"]
        }

    model, train = "artifact:proj/m:v0", "run:proj/train"
    data, prep = "artifact:proj/data:v0", "run:proj/prep"
    assert graph(0) == ({model}, set())
    assert graph(1) == ({model, train}, {(train, model, "logged")})
    assert graph(2) == ({model, train, data}, {(train, model, "logged"), (data, train, "used")})
    full = (
        {model, train, data, prep},
        {(train, model, "logged"), (data, train, "used"), (prep, data, "logged")},
    )
    assert graph(3) == full
    assert graph(10) == full
    from_run = env.services.lineage.graph(env.me, run="proj/prep", depth=1)
    assert from_run["root"] == prep
    assert {n["node"] for n in from_run["nodes"]} == {prep, data}
    with pytest.raises(InvalidInputError):
        env.services.lineage.graph(env.me, ref=art_ref("v0"), depth=11)
    with pytest.raises(NotFoundError):
        env.services.lineage.graph(env.me, run="proj/missing")


# -- deleting ---------------------------------------------------------------------------------


def test_soft_delete_refuses_linked_versions(env: Env) -> None:
    for i in range(3):
        env.commit("m", f"content {i}")
    env.link("v0")
    arts, reg = env.services.artifacts, env.services.registry
    before = env.snapshot()
    with pytest.raises(ConflictError) as caught:
        arts.delete(env.me, art_ref("v0"))
    assert caught.value.details == {"links": ["model-registry/coll:v0"]}
    with pytest.raises(ConflictError):
        arts.delete(env.me, reg_ref("v0"))
    assert env.snapshot() == before

    reg.unlink(env.me, reg_ref("v0"))
    arts.delete(env.me, art_ref("v0"))
    with pytest.raises(NotFoundError):
        arts.get(env.me, art_ref("v0"))
    with pytest.raises(NotFoundError):
        env.link("v0")
    assert [v["version"] for v in arts.list_versions(env.me, "proj", "m")] == ["v2", "v1"]

    # Deleting the newest moves latest back; numbers are never reused.
    arts.delete(env.me, art_ref("latest"))
    assert arts.get(env.me, art_ref("latest"))["version"] == "v1"
    assert env.commit("m", "content 2")["version"] == "v3"


def test_only_the_claim_that_holds_an_upload_settles_it(env: Env) -> None:
    """A completion's claim is identified by its time; once another took the upload over (the
    first claim having gone stale), the first cannot set the upload's state any more."""
    from modelbay.store import blobs as store

    session = env.services.blobs.begin_uploads(env.me, [{"size": 10}])["provisional"][0]
    with env.db.write() as conn:
        first = 1000.25
        assert store.claim_upload(conn, session["id"], first, first - 600)
        assert not store.claim_upload(conn, session["id"], first + 1, first + 1 - 600)
        second = first + 601.125  # the first claim is stale by now
        assert store.claim_upload(conn, session["id"], second, second - 600)
        assert not store.settle_upload(conn, session["id"], first, "open")
        assert store.settle_upload(conn, session["id"], second, "done", "ab" * 32)
        assert not store.settle_upload(conn, session["id"], second, "open")  # settled once
        assert store.get_upload(conn, session["id"])["state"] == "done"


def test_uploads_claimed_and_settled_together_follow_the_rules_of_one(env: Env) -> None:
    """One statement claims the uploads that are open or whose claim went stale, and one
    settles them; a digest given is set, none keeps the row's, a claim not held stays."""
    from modelbay.store import blobs as store

    begin = env.services.blobs.begin_uploads
    ids = [begin(env.me, [{"size": 10}])["provisional"][0]["id"] for _ in range(5)]
    held, stale, fresh_named, fresh_nameless, other = ids
    t = 5000.5
    with env.db.write() as conn:
        assert store.claim_upload(conn, held, t - 10, t - 610)  # another completion's, live
        assert store.claim_upload(conn, stale, t - 700, t - 1300)  # one presumed dead
        store.set_upload_state(conn, other, "done", "cd" * 32)
        claimed = store.claim_uploads(conn, [*ids, "0" * 32], t, t - 600)
        assert claimed == {stale, fresh_named, fresh_nameless}
        store.settle_uploads(
            conn,
            t,
            [
                (stale, "failed", None),
                (fresh_named, "done", "ab" * 32),
                (fresh_nameless, "open", None),
                (held, "done", "ef" * 32),  # not this claim's: left alone
            ],
        )
        rows = {u: store.get_upload(conn, u) for u in ids}
    assert {u: (r["state"], r["sha256"]) for u, r in rows.items()} == {
        held: ("completing", None),
        stale: ("failed", None),
        fresh_named: ("done", "ab" * 32),
        fresh_nameless: ("open", None),
        other: ("done", "cd" * 32),
    }


def test_only_an_open_upload_is_abandoned(env: Env) -> None:
    """A plan abandons a session whose staging is gone only while nobody completes it."""
    from modelbay.store import blobs as store

    begin = env.services.blobs.begin_uploads
    claimed, idle = (begin(env.me, [{"size": 10}])["provisional"][0] for _ in range(2))
    with env.db.write() as conn:
        assert store.claim_upload(conn, claimed["id"], 1000.5, 400.5)
        assert not store.abandon_upload(conn, claimed["id"])
        assert store.abandon_upload(conn, idle["id"])
        assert not store.abandon_upload(conn, idle["id"])  # once
        assert not store.abandon_upload(conn, "0" * 32)
        assert store.get_upload(conn, claimed["id"])["state"] == "completing"
        assert store.get_upload(conn, idle["id"])["state"] == "aborted"


def test_gc_reaches_garbage_behind_any_number_of_blobs_in_use(
    env: Env, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The oldest blobs are often all in use: the collection pages past them."""
    from modelbay.services import garbage

    monkeypatch.setattr(garbage, "GC_PAGE", 4)
    for i in range(9):  # the two oldest pages and one more blob, all in use
        env.commit(f"kept-{i}", f"kept {i}")
    dropped = env.commit("dropped", "no longer wanted")
    env.commit("kept-last", "kept after the garbage")
    env.services.artifacts.delete(env.me, ArtifactRef("proj", "dropped", dropped["version"]))

    dry = env.services.garbage.collect(env.me, grace_seconds=0, dry_run=True)
    assert (dry["removed"], dry["freed_bytes"]) == (1, len("no longer wanted"))
    done = env.services.garbage.collect(env.me, grace_seconds=0)
    assert (done["removed"], done["freed_bytes"]) == (1, len("no longer wanted"))
    assert done["remaining"]["blobs"] == 10
    assert env.services.garbage.collect(env.me, grace_seconds=0)["removed"] == 0


@pytest.mark.parametrize("grace", [-1, float("nan"), "24h", None, True])
def test_gc_refuses_a_grace_period_that_is_not_seconds_and_removes_nothing(
    env: Env, grace: Any
) -> None:
    """As the REST API's body does. Embedded, NaN once passed the check: on PostgreSQL every
    blob is stored before NaN (NaN sorts above all numbers), so it removed unreferenced blobs
    of any age, uploads of commits in flight too; on SQLite none. A string: a TypeError."""
    dropped = env.commit("dropped", "no longer wanted")
    env.services.artifacts.delete(env.me, ArtifactRef("proj", "dropped", dropped["version"]))
    with pytest.raises(InvalidInputError, match="grace period must be a number of seconds"):
        env.services.garbage.collect(env.me, grace_seconds=grace)
    assert env.services.garbage.collect(env.me, grace_seconds=0)["removed"] == 1


def test_a_run_entity_is_oneself_a_team_one_is_in_or_an_unknown_label(env: Env) -> None:
    """W&B's rule: a run is logged under one's own name or a team one belongs to. modelbay
    keeps projects for one organisation, not per entity, so an unknown name is only a label
    (the W&B scripts written for another server name theirs); another user's name, or a
    team one is not in, is refused."""
    services, admin = env.services, env.me
    bob_key = services.auth.create_user(admin, "bob")["key"]
    services.auth.create_user(admin, "carol")
    services.access.create_team(admin, "vision")
    services.access.create_team(admin, "audio")
    services.access.add_team_member(admin, "vision", "bob")
    ci_key = services.auth.create_service_account(admin, "ci-bot", "audio")["key"]
    bob, ci = services.auth.authenticate(bob_key), services.auth.authenticate(ci_key)
    for i, entity in enumerate(["bob", "vision", "some-org-on-wandb"]):
        info = services.runs.create(bob, "shared", run_id=f"ok{i}", system={"entity": entity})
        assert info["system"]["entity"] == entity
    assert services.runs.create(ci, "ci-proj", run_id="ci", system={"entity": "audio"})["id"]
    for entity in ("carol", "audio"):
        with pytest.raises(PermissionDeniedError, match="entity"):
            services.runs.create(bob, "shared", run_id=f"no-{entity}", system={"entity": entity})
    assert services.runs.create(admin, "shared", run_id="adm", system={"entity": "carol"})["id"]
