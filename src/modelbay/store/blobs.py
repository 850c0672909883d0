"""Rows for stored blobs and upload sessions, and the reference queries of garbage collection."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from modelbay.store import distributed as distributed_store
from modelbay.store.common import for_update, upsert
from modelbay.store.schema import artifact_versions, blobs, files, uploads

LIVE = "live"
DELETING = "deleting"


def _chunks(items: list[str], n: int = 900) -> Iterable[list[str]]:
    for start in range(0, len(items), n):
        yield items[start : start + n]


def live_sizes(conn: Connection, digests: Iterable[str], *, lock: bool = False) -> dict[str, int]:
    """Size of each digest that is stored and live; ``lock`` takes share locks (PostgreSQL)."""
    out: dict[str, int] = {}
    for chunk in _chunks(list(dict.fromkeys(digests))):
        stmt = sa.select(blobs.c.sha256, blobs.c.size).where(
            blobs.c.sha256.in_(chunk), blobs.c.state == LIVE
        )
        if lock and conn.dialect.name == "postgresql":
            stmt = stmt.with_for_update(read=True)
        out.update({d: int(s) for d, s in conn.execute(stmt)})
    return out


def state_of(conn: Connection, digest: str) -> str | None:
    value = conn.execute(sa.select(blobs.c.state).where(blobs.c.sha256 == digest)).scalar()
    return str(value) if value is not None else None


def live_blobs(conn: Connection, digests: Iterable[str]) -> dict[str, tuple[int, str | None]]:
    """(size, object key) of each digest that is stored and live (see ``schema.blobs``)."""
    out: dict[str, tuple[int, str | None]] = {}
    for chunk in _chunks(list(dict.fromkeys(digests))):
        stmt = sa.select(blobs.c.sha256, blobs.c.size, blobs.c.object_key).where(
            blobs.c.sha256.in_(chunk), blobs.c.state == LIVE
        )
        out.update({d: (int(s), k) for d, s, k in conn.execute(stmt)})
    return out


def record_stored(
    conn: Connection,
    sizes: dict[str, int],
    now: float,
    keys: dict[str, str | None] | None = None,
) -> tuple[list[str], list[str]]:
    """Record blobs (digest -> size) as stored and live, in one statement; with ``keys``,
    each held under ``keys[digest]`` (None or absent: the digest's own name).

    Returns ``(deleting, beaten)``. While garbage collection is removing any of them,
    nothing is written and those digests are ``deleting``: their rows are about to go.
    A blob recorded before keeps its object key; given ``keys``, the digests whose key
    differs from the one recorded are ``beaten``: the bytes under the key given are the
    caller's to remove, since no row points at them."""
    found = states(conn, sizes, lock=True)
    deleting = [d for d, state in found.items() if state == DELETING]
    if deleting or not sizes:
        return deleting, []
    given = keys or {}
    upsert(
        conn,
        blobs,
        [
            {"sha256": d, "size": n, "state": LIVE, "stored_at": now, "object_key": given.get(d)}
            for d, n in sizes.items()
        ],
        ["sha256"],
        ["state", "stored_at"],  # never the object key: the first one recorded stays
    )
    if keys is None:
        return [], []
    recorded = {d: k for d, (_, k) in live_blobs(conn, sizes).items()}
    return [], [d for d in sizes if recorded.get(d) != given.get(d)]


def insert_uploads(conn: Connection, rows: list[dict[str, Any]]) -> None:
    """Insert upload sessions (each row with every column), in one executemany."""
    if rows:
        conn.execute(uploads.insert(), rows)


def states(conn: Connection, digests: Iterable[str], *, lock: bool = False) -> dict[str, str]:
    """The state of each digest that has a row (one query per 900 digests); ``lock`` locks
    the rows (PostgreSQL; SQLite's write transaction already serialises)."""
    out: dict[str, str] = {}
    for chunk in _chunks(list(dict.fromkeys(digests))):
        stmt = sa.select(blobs.c.sha256, blobs.c.state).where(blobs.c.sha256.in_(chunk))
        if lock:
            stmt = for_update(conn, stmt)
        out.update({d: str(s) for d, s in conn.execute(stmt)})
    return out


def open_uploads(conn: Connection, sizes: dict[str, int]) -> dict[str, dict[str, Any]]:
    """For each digest, its newest open upload session of that size, if any (see
    :func:`open_upload`; one query per 900 digests)."""
    out: dict[str, dict[str, Any]] = {}
    for chunk in _chunks(list(sizes)):
        stmt = (
            sa.select(uploads)
            .where(uploads.c.sha256.in_(chunk), uploads.c.state == "open")
            .order_by(uploads.c.created_at)
        )
        for row in conn.execute(stmt).mappings():
            if int(row["size"]) == sizes[row["sha256"]]:
                out[row["sha256"]] = dict(row)  # the newest comes last
    return out


def open_upload(conn: Connection, digest: str, size: int) -> dict[str, Any] | None:
    row = (
        conn.execute(
            sa.select(uploads)
            .where(uploads.c.sha256 == digest, uploads.c.size == size, uploads.c.state == "open")
            .order_by(uploads.c.created_at.desc())
            .limit(1)
        )
        .mappings()
        .first()
    )
    return dict(row) if row else None


def get_upload(conn: Connection, upload_id: str) -> dict[str, Any] | None:
    row = conn.execute(sa.select(uploads).where(uploads.c.id == upload_id)).mappings().first()
    return dict(row) if row else None


def get_uploads(conn: Connection, upload_ids: Iterable[str]) -> dict[str, dict[str, Any]]:
    """The rows of the uploads that exist among ``upload_ids``, by id."""
    out: dict[str, dict[str, Any]] = {}
    for chunk in _chunks(list(upload_ids)):
        for row in conn.execute(sa.select(uploads).where(uploads.c.id.in_(chunk))).mappings():
            out[row["id"]] = dict(row)
    return out


def set_upload_state(
    conn: Connection, upload_id: str, state: str, sha256: str | None = None
) -> None:
    """Set an upload's state, and its digest when given (a provisional session's, named at
    completion)."""
    values: dict[str, Any] = {"state": state}
    if sha256 is not None:
        values["sha256"] = sha256
    conn.execute(uploads.update().where(uploads.c.id == upload_id).values(**values))


def abandon_upload(conn: Connection, upload_id: str) -> bool:
    """Mark an open upload ``aborted``; False when it is no longer open (a completion
    claimed it, or it ended)."""
    result = conn.execute(
        uploads.update()
        .where(uploads.c.id == upload_id, uploads.c.state == "open")
        .values(state="aborted"),
        execution_options={"preserve_rowcount": True},
    )
    return bool(result.rowcount == 1)


def claim_upload(conn: Connection, upload_id: str, now: float, stale_before: float) -> bool:
    """Take the right to complete an upload; False when another completion holds it."""
    return upload_id in claim_uploads(conn, [upload_id], now, stale_before)


def claim_uploads(
    conn: Connection, upload_ids: Iterable[str], now: float, stale_before: float
) -> set[str]:
    """Take the right to complete each upload that is open, or whose completion's claim is
    older than ``stale_before`` (presumed dead); the ids claimed (one statement per 900).

    The ids go in sorted, so that two claims of overlapping uploads lock their rows in the
    same order (PostgreSQL holds each statement's locks to the end of the transaction: in
    the order given, two batches could each wait for the other's)."""
    claimed: set[str] = set()
    for chunk in _chunks(sorted(set(upload_ids))):
        stmt = (
            uploads.update()
            .where(
                uploads.c.id.in_(chunk),
                sa.or_(
                    uploads.c.state == "open",
                    sa.and_(uploads.c.state == "completing", uploads.c.claimed_at < stale_before),
                ),
            )
            .values(state="completing", claimed_at=now)
            .returning(uploads.c.id)
        )
        claimed.update(conn.execute(stmt).scalars())
    return claimed


#: Ends a completion's claim; a None ``new_sha256`` keeps the digest the row has.
_SETTLE = (
    uploads.update()
    .where(
        uploads.c.id == sa.bindparam("upload_id"),
        uploads.c.state == "completing",
        uploads.c.claimed_at == sa.bindparam("claimed"),
    )
    .values(
        state=sa.bindparam("new_state"),
        sha256=sa.func.coalesce(sa.bindparam("new_sha256", type_=sa.String), uploads.c.sha256),
    )
)


def settle_upload(
    conn: Connection, upload_id: str, claimed_at: float, state: str, sha256: str | None = None
) -> bool:
    """End the completion that claimed an upload at ``claimed_at``: set its state (and its
    digest when given). False when that claim is no longer held (it went stale and another
    completion took the upload over, whose outcome stands)."""
    result = conn.execute(
        _SETTLE,
        {"upload_id": upload_id, "claimed": claimed_at, "new_state": state, "new_sha256": sha256},
        execution_options={"preserve_rowcount": True},
    )
    return bool(result.rowcount == 1)


def settle_uploads(
    conn: Connection, claimed_at: float, outcomes: list[tuple[str, str, str | None]]
) -> None:
    """End the completions that claimed uploads at ``claimed_at``, as :func:`settle_upload`
    does, given ``(upload id, state, digest or None)`` each, in one executemany; an upload
    whose claim is no longer held is left as it is."""
    if outcomes:
        conn.execute(
            _SETTLE,
            [
                {"upload_id": u, "claimed": claimed_at, "new_state": state, "new_sha256": sha}
                for u, state, sha in outcomes
            ],
        )


def stale_uploads(conn: Connection, before: float, states: tuple[str, ...]) -> list[dict[str, Any]]:
    """The sessions in ``states`` created before ``before``."""
    stmt = sa.select(uploads).where(uploads.c.state.in_(states), uploads.c.created_at < before)
    return [dict(r) for r in conn.execute(stmt).mappings()]


def live_upload_ids(conn: Connection) -> set[str]:
    """The ids of the sessions still open or completing."""
    stmt = sa.select(uploads.c.id).where(uploads.c.state.in_(("open", "completing")))
    return {r[0] for r in conn.execute(stmt)}


def gc_candidates(
    conn: Connection, stored_before: float, limit: int, after: tuple[float, str] | None = None
) -> tuple[list[dict[str, Any]], tuple[float, str] | None]:
    """The next page of live blobs older than the grace period, oldest first from ``after``
    (a ``(stored_at, sha256)`` position; None: the start), locked on PostgreSQL: returns the
    ones no live version's files reference, and the position to go on from (None when this
    page was the last).

    A page may hold no candidate at all (the oldest blobs are often in use); the walk goes on
    from its position, so that garbage behind any number of blobs in use is still reached.
    The references are read by a second statement after the rows are locked, so that a
    commit holding a share lock on a blob row is either seen or waited for.
    """
    stmt = (
        sa.select(blobs.c.sha256, blobs.c.size, blobs.c.stored_at, blobs.c.object_key)
        .where(blobs.c.state == LIVE, blobs.c.stored_at < stored_before)
        .order_by(blobs.c.stored_at, blobs.c.sha256)
        .limit(limit)
    )
    if after is not None:
        stmt = stmt.where(sa.tuple_(blobs.c.stored_at, blobs.c.sha256) > sa.tuple_(*after))
    if conn.dialect.name == "postgresql":
        stmt = stmt.with_for_update(skip_locked=True)
    rows = [dict(r) for r in conn.execute(stmt).mappings()]
    position = (rows[-1]["stored_at"], rows[-1]["sha256"]) if len(rows) == limit else None
    referenced = referenced_digests(conn, [r["sha256"] for r in rows])
    return [r for r in rows if r["sha256"] not in referenced], position


def referenced_digests(conn: Connection, digests: list[str]) -> set[str]:
    out: set[str] = set()
    for chunk in _chunks(digests):
        stmt = (
            sa.select(files.c.sha256)
            .join(artifact_versions, artifact_versions.c.id == files.c.version_id)
            .where(
                files.c.sha256.in_(chunk),
                artifact_versions.c.deleted_at.is_(None),
                files.c.ref.is_(None),
            )
            .distinct()
        )
        out.update(conn.execute(stmt).scalars())
        # A distributed artifact's unfinished draft holds its files too.
        out.update(distributed_store.digests_in_open_drafts(conn, chunk))
    return out


def mark(conn: Connection, digests: list[str], state: str) -> None:
    for chunk in _chunks(digests):
        conn.execute(blobs.update().where(blobs.c.sha256.in_(chunk)).values(state=state))


def delete_rows(conn: Connection, digests: list[str]) -> None:
    for chunk in _chunks(digests):
        conn.execute(blobs.delete().where(blobs.c.sha256.in_(chunk), blobs.c.state == DELETING))


def recorded_keys(conn: Connection, keys: Iterable[str]) -> set[str]:
    """The ones among object ``keys`` that a blob's row records (its bytes are there)."""
    out: set[str] = set()
    for chunk in _chunks(list(keys)):
        stmt = sa.select(blobs.c.object_key).where(blobs.c.object_key.in_(chunk))
        out.update(conn.execute(stmt).scalars())
    return out


def deleting(conn: Connection) -> dict[str, str | None]:
    """The blobs marked ``deleting`` (by a collection that did not finish): digest -> key."""
    stmt = sa.select(blobs.c.sha256, blobs.c.object_key).where(blobs.c.state == DELETING)
    return {d: k for d, k in conn.execute(stmt)}


def totals(conn: Connection) -> dict[str, int]:
    row = conn.execute(
        sa.select(sa.func.count(), sa.func.coalesce(sa.func.sum(blobs.c.size), 0))
    ).one()
    return {"blobs": int(row[0]), "bytes": int(row[1])}


def uploads_in_flight(conn: Connection) -> int:
    """Upload sessions begun and neither completed nor aborted."""
    query = sa.select(sa.func.count()).where(uploads.c.state.in_(("open", "completing")))
    return int(conn.execute(query).scalar_one())
