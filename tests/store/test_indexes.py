"""The searches of the public API use indexes, on SQLite and on PostgreSQL.

Each test runs a search through the services, captures the SQL it sent, and asks the
database for that statement's plan (``EXPLAIN QUERY PLAN`` on SQLite, ``EXPLAIN`` on
PostgreSQL). PostgreSQL plans a sequential scan for a table of a few rows whatever its
indexes, so there the plan is asked with sequential scans disabled: the index must be
usable by the very statement the search sends. Also here: migration 0022 moves a run's group
out of its JSON facts into the indexed column.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from support.workers import stored_file

import modelbay.store.database as database_module
from modelbay.names import ArtifactRef
from modelbay.services import Principal, Services
from modelbay.settings import Settings
from modelbay.store.database import Database

MIGRATIONS = Path(database_module.__file__).parent / "migrations"


@pytest.fixture
def services(tmp_path: Path, db_url: str) -> Iterator[Services]:
    found = Services.open(Settings(data_dir=tmp_path, db_url=db_url))
    try:
        yield found
    finally:
        found.close()


@pytest.fixture
def me(services: Services) -> Principal:
    return services.auth.local_principal("alice")


@contextmanager
def captured(engine: sa.Engine) -> Iterator[list[tuple[str, Any]]]:
    """Every statement sent through ``engine`` meanwhile, with its parameters."""
    sent: list[tuple[str, Any]] = []

    def keep(_conn: Any, _cursor: Any, statement: str, params: Any, *_: Any) -> None:
        sent.append((statement, params))

    sa.event.listen(engine, "before_cursor_execute", keep)
    try:
        yield sent
    finally:
        sa.event.remove(engine, "before_cursor_execute", keep)


def plan(engine: sa.Engine, statement: str, params: Any) -> str:
    with engine.connect() as conn:
        if engine.dialect.name == "sqlite":
            rows = conn.exec_driver_sql("EXPLAIN QUERY PLAN " + statement, params)
            return "\n".join(str(r[-1]) for r in rows)
        conn.exec_driver_sql("SET enable_seqscan = off")
        text = "\n".join(r[0] for r in conn.exec_driver_sql("EXPLAIN " + statement, params))
        conn.rollback()
        return text


def search_plan(engine: sa.Engine, sent: list[tuple[str, Any]], table: str) -> str:
    """The plan of the one statement sent that pages ``table`` (it has a LIMIT)."""
    found = [(s, p) for s, p in sent if f"FROM {table}" in s and "ORDER BY" in s]
    assert len(found) == 1, [s for s, _ in sent]
    return plan(engine, *found[0])


def _runs(services: Services, me: Principal) -> None:
    for i in range(6):
        services.runs.create(
            me,
            "proj",
            run_id=f"r{i}",
            group=f"g{i % 2}",
            job_type="train" if i % 3 else "eval",
            system={"host": "h"},
        )


def test_a_projects_run_listing_reads_its_index_in_order(services: Services, me: Principal) -> None:
    _runs(services, me)
    engine = services.db.engine
    with captured(engine) as sent:
        first = services.search.runs(me, "proj", None, "+created_at", limit=2)
    text = search_plan(engine, sent, "runs")
    assert "ix_runs_project_id_created_at_id" in text, text
    if engine.dialect.name == "sqlite":
        assert "TEMP B-TREE" not in text, text  # the index gives the order: nothing sorted
    else:
        assert "Sort" not in text, text
    # The next page seeks past the token in the same index.
    with captured(engine) as sent:
        services.search.runs(
            me, "proj", None, "+created_at", limit=2, page_token=first["next_page_token"]
        )
    text = search_plan(engine, sent, "runs")
    assert "ix_runs_project_id_created_at_id" in text, text
    assert "TEMP B-TREE" not in text and "Sort" not in text, text


@pytest.mark.parametrize(
    ("flt", "index"),
    [
        ({"group": "g1"}, "ix_runs_project_id_group"),
        ({"jobType": "eval"}, "ix_runs_project_id_job_type"),
    ],
)
def test_a_group_or_job_type_filter_reads_its_index(
    services: Services, me: Principal, flt: dict[str, str], index: str
) -> None:
    _runs(services, me)
    engine = services.db.engine
    with engine.begin() as conn:  # statistics, so that SQLite weighs the indexes
        conn.exec_driver_sql("ANALYZE")
    with captured(engine) as sent:
        found = services.search.runs(me, "proj", flt, "-summary_metrics.acc")
    assert len(found["runs"]) in (2, 3)
    key, value = next(iter(flt.items()))
    assert all(r[{"jobType": "job_type"}.get(key, key)] == value for r in found["runs"])
    text = search_plan(engine, sent, "runs")
    assert index in text, text


def test_a_metadata_equality_reads_the_gin_index_on_postgresql(
    services: Services, me: Principal
) -> None:
    for i in range(4):
        entry = stored_file(services, me, f"weights {i}")
        services.artifacts.commit_version(
            me, "proj", f"m{i}", "model", [entry], metadata={"arch": {"name": f"a{i % 2}"}}
        )
        services.registry.link(me, ArtifactRef("proj", f"m{i}", "v0"), "model", f"c{i}")
    engine = services.db.engine
    with captured(engine) as sent:
        found = services.search.versions(me, None, None, {"metadata.arch.name": "a1"})
    assert sorted(v["link"]["collection"] for v in found["versions"]) == ["c1", "c3"]
    text = search_plan(engine, sent, "links")
    if engine.dialect.name == "postgresql":
        assert "ix_artifact_versions_metadata_jsonb" in text, text
    else:
        # SQLite indexes no JSON path of its own accord: the versions are read and tested.
        assert "ix_artifact_versions_metadata_jsonb" not in text
    with captured(engine) as sent:
        found = services.search.versions(
            me, None, None, {"metadata.arch.name": {"$in": ["a0", "zz"]}}
        )
    assert sorted(v["link"]["collection"] for v in found["versions"]) == ["c0", "c2"]
    if engine.dialect.name == "postgresql":
        assert "ix_artifact_versions_metadata_jsonb" in search_plan(engine, sent, "links")


def _alembic(db: Database, revision: str) -> None:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    with db.engine.connect() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, revision)
        conn.commit()


@pytest.mark.parametrize("kind", ["sqlite", "postgresql"])
def test_migration_moves_a_runs_group_into_its_column(
    kind: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    if kind == "sqlite":
        url = f"sqlite:///{tmp_path / 'meta.db'}"
    else:  # not db_url: its PostgreSQL databases come migrated to the head already
        cluster = request.getfixturevalue("pg_cluster")
        url = cluster.create_database("t_" + uuid.uuid4().hex[:12], migrated=False)
    db = Database(url, migrate=False)
    try:
        _alembic(db, "0019")
        with db.engine.begin() as conn:
            conn.exec_driver_sql(
                "INSERT INTO users (id, name, is_admin, created_at) VALUES (1, 'u', false, 0)"
            )
            conn.exec_driver_sql("INSERT INTO projects (id, name, created_at) VALUES (1, 'p', 0)")
            for pk, system in ((1, '{"host": "h", "group": "g"}'), (2, '{"host": "h"}')):
                conn.exec_driver_sql(
                    "INSERT INTO runs (id, project_id, run_id, name, state, config, summary, "
                    "tags, system, user_id, created_at, updated_at) VALUES "
                    f"({pk}, 1, 'r{pk}', 'r', 'finished', '{{}}', '{{}}', '[]', '{system}', 1, 0, 0)"
                )
        _alembic(db, "head")
        with db.read() as conn:
            rows = conn.exec_driver_sql('SELECT id, "group", system FROM runs ORDER BY id').all()
        found = [
            (pk, group, database_module.load_json(s) if isinstance(s, str) else s)
            for pk, group, s in rows
        ]
        assert found == [(1, "g", {"host": "h"}), (2, None, {"host": "h"})]
        cfg = Config()
        cfg.set_main_option("script_location", str(MIGRATIONS))
        with db.engine.connect() as conn:  # and back: the group returns to the facts
            cfg.attributes["connection"] = conn
            command.downgrade(cfg, "0019")
            conn.commit()
        with db.read() as conn:
            (system,) = conn.exec_driver_sql("SELECT system FROM runs WHERE id = 1").one()
        system = database_module.load_json(system) if isinstance(system, str) else system
        assert system == {"host": "h", "group": "g"}
    finally:
        db.dispose()


def test_migration_rewrites_lone_surrogates_the_metadata_index_refuses(
    tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    """PostgreSQL's ``json`` kept a lone surrogate escape (a file name from ``os.fsdecode``,
    stored before the edge refused it) that the metadata index's ``jsonb`` cast refuses:
    0022 rewrites such values as printable text, then builds its indexes."""
    cluster = request.getfixturevalue("pg_cluster")
    url = cluster.create_database("t_" + uuid.uuid4().hex[:12], migrated=False)
    db = Database(url, migrate=False)
    try:
        _alembic(db, "0019")
        bad = '{"k": "data_\\udcff.csv", "data_\\udcff": [1, "\\ud800"], "ok": "\\ud83c\\udf89"}'
        with db.engine.begin() as conn:
            conn.exec_driver_sql(
                "INSERT INTO users (id, name, is_admin, created_at) VALUES (1, 'u', false, 0)"
            )
            conn.exec_driver_sql("INSERT INTO projects (id, name, created_at) VALUES (1, 'p', 0)")
            conn.exec_driver_sql(
                "INSERT INTO runs (id, project_id, run_id, name, state, config, summary, "
                "tags, system, user_id, created_at, updated_at) VALUES (1, 1, 'r1', 'r', "
                "'finished', '{}', '{}', '[]', '{\"group\": \"g\", \"f\": \"x\\udcff\"}', 1, 0, 0)"
            )
            conn.exec_driver_sql(
                "INSERT INTO artifacts (id, project_id, name, type, next_version, created_at) "
                "VALUES (1, 1, 'm', 'model', 1, 0)"
            )
            conn.exec_driver_sql(
                "INSERT INTO artifact_versions (id, artifact_id, version, digest, size, "
                "file_count, metadata, user_id, created_at) "
                f"VALUES (1, 1, 0, '{'0' * 64}', 0, 0, '{bad}', 1, 0)"
            )
        _alembic(db, "head")
        with db.read() as conn:
            metadata = conn.exec_driver_sql("SELECT metadata FROM artifact_versions").scalar()
            group, system = conn.exec_driver_sql('SELECT "group", system FROM runs').one()
        assert metadata == {"k": "data_\\xff.csv", "data_\\xff": [1, "\\ud800"], "ok": "🎉"}
        assert (group, system) == ("g", {"f": "x\\xff"})
    finally:
        db.dispose()
