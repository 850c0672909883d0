"""SQL of distributed artifacts' drafts: the files several runs upsert into one version
before it is finished (see :mod:`modelbay.services.distributed`)."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from modelbay.store.common import dict_rows, inserted_id
from modelbay.store.schema import distributed_drafts, distributed_files

_d = distributed_drafts.c
FILE_COLUMNS = ("path", "sha256", "size", "ref", "etag")


def draft(
    conn: Connection, project_id: int, name: str, distributed_id: str
) -> dict[str, Any] | None:
    """The draft row, locked until the transaction ends (PostgreSQL; SQLite's writer holds
    the whole database)."""
    stmt = sa.select(distributed_drafts).where(
        _d.project_id == project_id, _d.name == name, _d.distributed_id == distributed_id
    )
    if conn.dialect.name == "postgresql":
        stmt = stmt.with_for_update()
    row = conn.execute(stmt).mappings().first()
    return dict(row) if row else None


def insert_draft(conn: Connection, **values: Any) -> int:
    return inserted_id(conn.execute(distributed_drafts.insert().values(**values)))


def set_state(conn: Connection, draft_id: int, state: str, version_id: int | None = None) -> None:
    conn.execute(
        distributed_drafts.update()
        .where(_d.id == draft_id)
        .values(state=state, version_id=version_id)
    )


def put_files(conn: Connection, draft_id: int, entries: list[dict[str, Any]]) -> None:
    """Add files to a draft; a path upserted again takes the newer file."""
    paths = [e["path"] for e in entries]
    for start in range(0, len(paths), 900):
        conn.execute(
            distributed_files.delete().where(
                distributed_files.c.draft_id == draft_id,
                distributed_files.c.path.in_(paths[start : start + 900]),
            )
        )
    if entries:
        rows = [{"draft_id": draft_id, **{k: e.get(k) for k in FILE_COLUMNS}} for e in entries]
        conn.execute(distributed_files.insert(), rows)


def files(conn: Connection, draft_id: int) -> list[dict[str, Any]]:
    stmt = (
        sa.select(*(distributed_files.c[k] for k in FILE_COLUMNS))
        .where(distributed_files.c.draft_id == draft_id)
        .order_by(distributed_files.c.path)
    )
    return dict_rows(conn.execute(stmt))


def drop_files(conn: Connection, draft_id: int) -> None:
    conn.execute(distributed_files.delete().where(distributed_files.c.draft_id == draft_id))


def digests_in_open_drafts(conn: Connection, digests: list[str]) -> set[str]:
    """Which of ``digests`` an unfinished draft holds (garbage collection keeps them)."""
    stmt = (
        sa.select(distributed_files.c.sha256)
        .join(distributed_drafts, _d.id == distributed_files.c.draft_id)
        .where(
            distributed_files.c.sha256.in_(digests),
            distributed_files.c.ref.is_(None),
            _d.state != "finished",
        )
        .distinct()
    )
    return set(conn.execute(stmt).scalars())
