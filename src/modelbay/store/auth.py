"""Users and API keys (keys are stored as sha256 hashes only)."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from modelbay.store.common import insert_ignore
from modelbay.store.schema import api_keys, users


def ensure_user(conn: Connection, name: str, is_admin: bool, now: float) -> dict[str, Any]:
    insert_ignore(conn, users, {"name": name, "is_admin": is_admin, "created_at": now}, ["name"])
    row = conn.execute(sa.select(users).where(users.c.name == name)).mappings().one()
    return dict(row)


def get_user(conn: Connection, name: str) -> dict[str, Any] | None:
    row = conn.execute(sa.select(users).where(users.c.name == name)).mappings().first()
    return dict(row) if row else None


def set_password_hash(conn: Connection, user_id: int, password_hash: str | None) -> None:
    conn.execute(users.update().where(users.c.id == user_id).values(password_hash=password_hash))


def insert_key(
    conn: Connection, user_id: int, key_hash: str, prefix: str, description: str | None, now: float
) -> None:
    conn.execute(
        api_keys.insert().values(
            user_id=user_id,
            key_hash=key_hash,
            prefix=prefix,
            description=description,
            created_at=now,
        )
    )


def user_by_key_hash(conn: Connection, key_hash: str) -> dict[str, Any] | None:
    row = (
        conn.execute(
            sa.select(users.c.id, users.c.name, users.c.is_admin)
            .join(api_keys, api_keys.c.user_id == users.c.id)
            .where(api_keys.c.key_hash == key_hash)
        )
        .mappings()
        .first()
    )
    return dict(row) if row else None
