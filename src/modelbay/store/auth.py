"""Users, API keys, web sessions, one-time sign-in links and failed sign-ins (keys, session
and link tokens are stored as sha256 hashes only)."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from modelbay.store.common import dict_rows, insert_ignore, inserted_id
from modelbay.store.prepared import Prepared, fetch_dict
from modelbay.store.schema import (
    api_keys,
    credential_generation,
    events,
    login_links,
    sign_in_failures,
    teams,
    users,
    web_sessions,
)

# -- users -----------------------------------------------------------------------------------


def ensure_user(conn: Connection, name: str, is_admin: bool, now: float) -> dict[str, Any]:
    insert_ignore(conn, users, {"name": name, "is_admin": is_admin, "created_at": now}, ["name"])
    row = conn.execute(sa.select(users).where(users.c.name == name)).mappings().one()
    return dict(row)


def get_user(conn: Connection, name: str) -> dict[str, Any] | None:
    row = conn.execute(sa.select(users).where(users.c.name == name)).mappings().first()
    return dict(row) if row else None


def get_user_by_id(conn: Connection, user_id: int) -> dict[str, Any] | None:
    row = conn.execute(sa.select(users).where(users.c.id == user_id)).mappings().first()
    return dict(row) if row else None


def insert_service_account(conn: Connection, name: str, team_id: int, now: float) -> int:
    return inserted_id(
        conn.execute(
            users.insert().values(name=name, is_admin=False, created_at=now, owner_team_id=team_id)
        )
    )


def list_users(conn: Connection) -> list[dict[str, Any]]:
    """Every user with the name of the team owning it (service accounts), by name."""
    stmt = (
        sa.select(
            users.c.id,
            users.c.name,
            users.c.is_admin,
            users.c.created_at,
            (users.c.password_hash.is_not(None)).label("has_password"),
            teams.c.name.label("team"),
        )
        .select_from(users.outerjoin(teams, teams.c.id == users.c.owner_team_id))
        .order_by(users.c.name)
    )
    return dict_rows(conn.execute(stmt))


def set_password_hash(conn: Connection, user_id: int, password_hash: str | None) -> None:
    conn.execute(users.update().where(users.c.id == user_id).values(password_hash=password_hash))


# -- API keys --------------------------------------------------------------------------------


def insert_key(
    conn: Connection,
    user_id: int,
    key_hash: str,
    prefix: str,
    description: str | None,
    now: float,
    expires_at: float | None = None,
) -> int:
    return inserted_id(
        conn.execute(
            api_keys.insert().values(
                user_id=user_id,
                key_hash=key_hash,
                prefix=prefix,
                description=description,
                created_at=now,
                expires_at=expires_at,
            )
        )
    )


_LIVE_KEY = sa.and_(
    api_keys.c.key_hash == sa.bindparam("key_hash"),
    api_keys.c.revoked_at.is_(None),
    sa.or_(api_keys.c.expires_at.is_(None), api_keys.c.expires_at > sa.bindparam("now")),
)
_USER_BY_KEY = Prepared(
    sa.select(users.c.id, users.c.name, users.c.is_admin, api_keys.c.expires_at)
    .join(api_keys, api_keys.c.user_id == users.c.id)
    .where(_LIVE_KEY)
)


def user_by_key_hash(conn: Connection, key_hash: str, now: float) -> dict[str, Any] | None:
    """The user of a key that is neither revoked nor expired at ``now``, with the key's
    ``expires_at``."""
    return fetch_dict(conn, _USER_BY_KEY, {"key_hash": key_hash, "now": now})


#: The credential generation (see ``schema.credential_generation``), read by every API
#: request through ``Database.probe``; a fixed statement, as the probe runs raw SQL.
GENERATION_SQL = "SELECT generation FROM credential_generation WHERE id = 1"


def bump_generation(conn: Connection) -> None:
    """Move the credential generation on, in the transaction of a revoke: every process
    then looks its keys up again before it trusts them."""
    conn.execute(
        credential_generation.update()
        .where(credential_generation.c.id == 1)
        .values(generation=credential_generation.c.generation + 1)
    )


_KEY_COLUMNS = (
    api_keys.c.id,
    api_keys.c.prefix,
    api_keys.c.description,
    api_keys.c.created_at,
    api_keys.c.expires_at,
    api_keys.c.revoked_at,
    users.c.name.label("user"),
    users.c.id.label("user_id"),
    users.c.owner_team_id,
)


def list_keys(conn: Connection, user_id: int | None) -> list[dict[str, Any]]:
    """The keys of one user (every user's with None), newest first."""
    stmt = (
        sa.select(*_KEY_COLUMNS)
        .join(users, users.c.id == api_keys.c.user_id)
        .order_by(api_keys.c.id.desc())
    )
    if user_id is not None:
        stmt = stmt.where(api_keys.c.user_id == user_id)
    return dict_rows(conn.execute(stmt))


def get_key(conn: Connection, key_id: int) -> dict[str, Any] | None:
    stmt = (
        sa.select(*_KEY_COLUMNS)
        .join(users, users.c.id == api_keys.c.user_id)
        .where(api_keys.c.id == key_id)
    )
    row = conn.execute(stmt).mappings().first()
    return dict(row) if row else None


def revoke_key(conn: Connection, key_id: int, now: float) -> bool:
    """Mark a key revoked, bumping the credential generation; False when it was already."""
    result = conn.execute(
        api_keys.update()
        .where(api_keys.c.id == key_id, api_keys.c.revoked_at.is_(None))
        .values(revoked_at=now)
    )
    if not result.rowcount:
        return False
    bump_generation(conn)
    return True


# -- web sessions ----------------------------------------------------------------------------


def insert_session(
    conn: Connection, session_hash: str, user_id: int, now: float, expires_at: float
) -> None:
    conn.execute(
        web_sessions.insert().values(
            id=session_hash, user_id=user_id, created_at=now, expires_at=expires_at
        )
    )
    # Sessions that ran out go when new ones begin (indexed; a handful at a time).
    conn.execute(web_sessions.delete().where(web_sessions.c.expires_at < now))


_SESSION_USER = (
    sa.select(users.c.id, users.c.name, users.c.is_admin)
    .join(web_sessions, web_sessions.c.user_id == users.c.id)
    .where(
        web_sessions.c.id == sa.bindparam("sid"), web_sessions.c.expires_at > sa.bindparam("now")
    )
)


def session_user(conn: Connection, session_hash: str, now: float) -> dict[str, Any] | None:
    row = conn.execute(_SESSION_USER, {"sid": session_hash, "now": now}).mappings().first()
    return dict(row) if row else None


def delete_session(conn: Connection, session_hash: str) -> None:
    conn.execute(web_sessions.delete().where(web_sessions.c.id == session_hash))


def delete_user_sessions(conn: Connection, user_id: int) -> None:
    conn.execute(web_sessions.delete().where(web_sessions.c.user_id == user_id))


# -- one-time sign-in links ------------------------------------------------------------------


def insert_link(conn: Connection, token_hash: str, user_id: int, expires_at: float) -> None:
    conn.execute(
        login_links.insert().values(token_hash=token_hash, user_id=user_id, expires_at=expires_at)
    )


def redeem_link(conn: Connection, token_hash: str, now: float) -> int | None:
    """The user of an unexpired link, deleting it: only one caller ever gets it (the second
    DELETE of a concurrent pair finds no row)."""
    user_id = conn.execute(
        sa.select(login_links.c.user_id).where(
            login_links.c.token_hash == token_hash, login_links.c.expires_at > now
        )
    ).scalar()
    deleted = conn.execute(login_links.delete().where(login_links.c.token_hash == token_hash))
    conn.execute(login_links.delete().where(login_links.c.expires_at <= now))
    if user_id is None or deleted.rowcount != 1:
        return None
    return int(user_id)


# -- failed sign-ins -------------------------------------------------------------------------


def failures(conn: Connection, keys: list[str]) -> dict[str, tuple[float, int]]:
    """``key -> (first failure, count)`` of those keys that have failures."""
    rows = conn.execute(
        sa.select(sign_in_failures).where(sign_in_failures.c.key.in_(keys))
    ).mappings()
    return {r["key"]: (float(r["first_at"]), int(r["count"])) for r in rows}


def count_failure(conn: Connection, key: str, now: float, window: float) -> None:
    """One more failure under ``key``; a count whose window has passed starts again. One
    UPDATE, so concurrent failures on several replicas all count."""
    insert_ignore(conn, sign_in_failures, {"key": key, "first_at": now, "count": 0}, ["key"])
    stale = sign_in_failures.c.first_at <= now - window
    conn.execute(
        sign_in_failures.update()
        .where(sign_in_failures.c.key == key)
        .values(
            count=sa.case((stale, 1), else_=sign_in_failures.c.count + 1),
            first_at=sa.case((stale, now), else_=sign_in_failures.c.first_at),
        )
    )


def clear_failures(conn: Connection, key: str) -> None:
    conn.execute(sign_in_failures.delete().where(sign_in_failures.c.key == key))


# -- the organization's audit log ------------------------------------------------------------


def audit_events(
    conn: Connection,
    *,
    limit: int,
    before_id: int | None = None,
    actor: str | None = None,
    action: str | None = None,
    subject: str | None = None,
    since: float | None = None,
    until: float | None = None,
) -> list[dict[str, Any]]:
    """Events newest first, keyset-paged by id. ``action`` ending in ``.`` or ``*`` matches a
    prefix (``alias.*``); ``subject`` matches the object's name or a prefix of it (``model-
    registry/MNIST`` finds its versions too)."""
    stmt = sa.select(events).order_by(events.c.id.desc()).limit(limit)
    if before_id is not None:
        stmt = stmt.where(events.c.id < before_id)
    if actor is not None:
        stmt = stmt.where(events.c.actor == actor)
    if action is not None:
        if action.endswith(("*", ".")):
            stmt = stmt.where(events.c.action.startswith(action.rstrip("*"), autoescape=True))
        else:
            stmt = stmt.where(events.c.action == action)
    if subject is not None:
        stmt = stmt.where(
            sa.or_(
                events.c.subject == subject,
                events.c.subject.startswith(subject + "/", autoescape=True),
                events.c.subject.startswith(subject + ":", autoescape=True),
            )
        )
    if since is not None:
        stmt = stmt.where(events.c.time >= since)
    if until is not None:
        stmt = stmt.where(events.c.time < until)
    return dict_rows(conn.execute(stmt))
