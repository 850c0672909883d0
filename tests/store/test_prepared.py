"""Prepared statements (compiled once per dialect, run on the driver's cursor) behave like
``Connection.execute``: same values back, same typed conversions, same exception classes.
And the look-ups a resolve runs use the alias tables' primary keys, whatever the size of
the collection (checked on SQLite's query plan)."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from modelbay.store import artifacts as artifact_store
from modelbay.store import registry as registry_store
from modelbay.store.common import P
from modelbay.store.database import Database
from modelbay.store.prepared import (
    ForIds,
    Prepared,
    fetch_dict,
    fetch_dicts,
    fetch_row,
    fetch_value,
    run,
)

meta = sa.MetaData()
things = sa.Table(
    "things",
    meta,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("name", sa.String(50), nullable=False, unique=True),
    sa.Column("doc", sa.JSON, nullable=False),
    sa.Column("weight", sa.Float, nullable=False),
    sa.Column("flag", sa.Boolean, nullable=False),
)
INSERT = Prepared(
    things.insert()
    .values(name=P("name"), doc=P("doc"), weight=P("weight"), flag=P("flag"))
    .returning(things.c.id)
)
BY_NAME = Prepared(sa.select(things).where(things.c.name == P("name")))
FIRST_TWO = Prepared(sa.select(things.c.name).order_by(things.c.id).limit(2))
RENAME = Prepared(things.update().where(things.c.name == P("old")).values(name=P("new")))


@pytest.fixture
def db(db_url: str) -> Database:
    database = Database(db_url, migrate=False)
    meta.create_all(database.engine)
    return database


def test_values_and_types_come_back_as_execute_gives_them(db: Database) -> None:
    doc = {"layers": [1, 2, 3], "name": "résumé ✓", "nested": {"x": None}}
    with db.write() as conn:
        new_id = fetch_value(conn, INSERT, {"name": "a", "doc": doc, "weight": 0.5, "flag": True})
        fetch_value(conn, INSERT, {"name": "b", "doc": {}, "weight": 2.0, "flag": False})
        fetch_value(conn, INSERT, {"name": "c", "doc": [], "weight": 3.0, "flag": False})
    with db.read() as conn:
        fast = fetch_dict(conn, BY_NAME, {"name": "a"})
        slow = dict(conn.execute(BY_NAME.statement, {"name": "a"}).mappings().one())
        assert fast == slow == {"id": new_id, "name": "a", "doc": doc, "weight": 0.5, "flag": True}
        assert type(fast["flag"]) is bool
        assert fetch_dict(conn, BY_NAME, {"name": "nobody"}) is None
        assert fetch_row(conn, BY_NAME, {"name": "nobody"}) is None
        # A LIMIT baked into the statement is a bound default.
        assert [r["name"] for r in fetch_dicts(conn, FIRST_TWO, {})] == ["a", "b"]


def test_rowcount_and_errors_are_sqlalchemys(db: Database) -> None:
    with db.write() as conn:
        fetch_value(conn, INSERT, {"name": "a", "doc": {}, "weight": 1.0, "flag": True})
        assert run(conn, RENAME, {"old": "a", "new": "z"}) == 1
        assert run(conn, RENAME, {"old": "missing", "new": "y"}) == 0
    with pytest.raises(sa.exc.IntegrityError), db.write() as conn:
        fetch_value(conn, INSERT, {"name": "z", "doc": {}, "weight": 1.0, "flag": True})
    with db.read() as conn:  # the failed transaction left nothing behind
        assert conn.execute(sa.select(sa.func.count()).select_from(things)).scalar() == 1


def test_a_statement_whose_sql_depends_on_its_parameters_is_refused(db: Database) -> None:
    expanding = Prepared(sa.select(things).where(things.c.id.in_(P("ids", expanding=True))))
    with db.read() as conn, pytest.raises(ValueError, match="not a fixed statement"):
        fetch_dicts(conn, expanding, {"ids": [1, 2]})


def _plan(db: Database, prepared: Prepared, params: tuple[object, ...]) -> list[str]:
    with db.read() as conn:
        sql = prepared.compiled(conn).sql
        raw = conn.connection.dbapi_connection
        assert raw is not None
        return [row[3] for row in raw.execute(f"EXPLAIN QUERY PLAN {sql}", params).fetchall()]


def test_alias_look_ups_use_the_alias_primary_key(tmp_path: object) -> None:
    db = Database(f"sqlite:///{tmp_path}/plans.db")
    registry_plan = _plan(db, registry_store._FIND_BY_ALIAS, ("model", "c", "production"))
    assert any(
        "collection_aliases" in step and "(collection_id=? AND alias=?)" in step
        for step in registry_plan
    ), registry_plan
    assert not any(step.startswith("SEARCH links USING INDEX") for step in registry_plan)
    artifact_plan = _plan(db, artifact_store._FIND_BY_ALIAS, ("p", "a", "latest"))
    assert any(
        "artifact_aliases" in step and "(artifact_id=? AND alias=?)" in step
        for step in artifact_plan
    ), artifact_plan


NAMES_OF = ForIds(
    things.c.id,
    lambda listed: sa.select(things.c.id, things.c.name).where(listed, things.c.flag == P("flag")),
)


def test_a_statement_over_many_ids_is_one_statement_for_any_number(db: Database) -> None:
    """ForIds passes the ids as one parameter: past SQLite's old 999-variable limit and
    the former batches of 900, repeated and missing ids included, on both databases."""
    with db.engine.begin() as conn:
        conn.execute(
            things.insert(),
            [
                {"id": i, "name": f"n{i}", "doc": {}, "weight": 0.0, "flag": i % 2 == 0}
                for i in range(1, 2501)
            ],
        )
        wanted = [*range(1, 2501), 7, 7, 999_999]  # repeated, and one that is not there
        rows = NAMES_OF.rows(conn, wanted, flag=True)
        assert sorted(rows) == [(i, f"n{i}") for i in range(2, 2501, 2)]
        assert NAMES_OF.rows(conn, [], flag=True) == []
        assert NAMES_OF.rows(conn, [3], flag=False) == [(3, "n3")]
