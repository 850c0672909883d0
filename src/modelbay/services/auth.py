"""Users, service accounts, API keys and the principal of a request.

A process keeps what a key authenticates together with the credential generation it read
just before looking the key up; every request reads the generation again (one indexed
row) and trusts the kept principal only while it is unchanged and the key's expiry has not
passed. Every revoke bumps the generation in its own transaction, so a key revoked on one
replica is refused at once by every worker and replica, and an expired key at its expiry.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from typing import Any

from sqlalchemy.engine import Connection

from modelbay import names
from modelbay.errors import (
    AlreadyExistsError,
    AuthenticationError,
    InvalidInputError,
    NotFoundError,
    PermissionDeniedError,
)
from modelbay.jsontext import Info
from modelbay.services.core import Principal, now, record
from modelbay.store import access as access_store
from modelbay.store import auth as store
from modelbay.store.database import Database

KEY_PREFIX = "mb_"
#: Keys a process keeps at most; when full, it forgets them all and looks them up again.
KNOWN_KEYS = 10_000
#: The longest a key may be made to live for (ten years).
MAX_KEY_SECONDS = 10 * 365 * 86400.0


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def hash_password(password: str, *, salt: bytes | None = None, rounds: int = 200_000) -> str:
    """PBKDF2-HMAC-SHA256 in the ``pbkdf2_sha256$rounds$salt$hash`` form."""
    salt = salt or secrets.token_bytes(16)
    digest = hashlib.pbkdf2_hmac("sha256", password.encode(), salt, rounds)
    return f"pbkdf2_sha256${rounds}${salt.hex()}${digest.hex()}"


def verify_password(password: str, stored: str) -> bool:
    try:
        scheme, rounds, salt, _ = stored.split("$")
    except ValueError:
        return False
    if scheme != "pbkdf2_sha256" or not isinstance(password, str):
        return False
    candidate = hash_password(password, salt=bytes.fromhex(salt), rounds=int(rounds))
    return hmac.compare_digest(candidate, stored)


def new_key() -> str:
    return KEY_PREFIX + secrets.token_urlsafe(32)


class AuthService:
    def __init__(self, db: Database) -> None:
        self.db = db
        #: key hash -> (principal, the key's expiry, the generation read before the key was)
        self._known: dict[str, tuple[Principal, float | None, int]] = {}

    def bootstrap_admin(self, admin_key: str | None = None) -> str | None:
        """Make sure an admin exists; returns a newly made key to show once, else None.

        With ``admin_key`` given, that key is made to work for user ``admin``.
        """
        t = now()
        with self.db.write() as conn:
            existing = store.get_user(conn, "admin")
            admin = store.ensure_user(conn, "admin", True, t)
            if admin_key:
                if store.user_by_key_hash(conn, hash_key(admin_key), t) is None:
                    store.insert_key(
                        conn,
                        admin["id"],
                        hash_key(admin_key),
                        admin_key[:8],
                        "MODELBAY_ADMIN_KEY",
                        t,
                    )
                return None
            if existing is not None:
                return None
            key = new_key()
            store.insert_key(conn, admin["id"], hash_key(key), key[:8], "first start", t)
            return key

    def authenticate(self, key: str | None) -> Principal:
        """The principal a key belongs to: kept from an earlier call while the credential
        generation is unchanged and the key unexpired, else read from the database.

        Raises:
            AuthenticationError: no key, or an unknown, revoked or expired one.
        """
        if not key:
            raise AuthenticationError("an API key is required: send 'Authorization: Bearer <key>'")
        key_hash = hash_key(key)
        # Read before the key is: a revoke committed after this read moves it on.
        generation = self.db.probe(store.GENERATION_SQL)
        t = now()
        known = self._known.get(key_hash)
        if known is not None and known[2] == generation and (known[1] is None or known[1] > t):
            return known[0]
        with self.db.one_read() as conn:
            row = store.user_by_key_hash(conn, key_hash, t)
        if row is None:
            self._known.pop(key_hash, None)
            raise AuthenticationError("unknown API key, or one revoked or expired")
        principal = Principal(row["id"], row["name"], bool(row["is_admin"]))
        if generation is not None:
            if len(self._known) >= KNOWN_KEYS:
                self._known.clear()
            self._known[key_hash] = (principal, row["expires_at"], int(generation))
        return principal

    def whoami(self, principal: Principal) -> Info:
        """Who the caller is."""
        return {"user": principal.name, "is_admin": principal.is_admin}

    def local_principal(self, name: str) -> Principal:
        """The embedded user: whoever runs the process, with full rights over their own data."""
        name = names.check_name(name, "user")
        with self.db.write() as conn:
            row = store.ensure_user(conn, name, True, now())
        return Principal(row["id"], row["name"], True)

    # -- users -------------------------------------------------------------------------

    def create_user(self, principal: Principal, name: str, is_admin: bool = False) -> Info:
        """Create a user and a first API key (shown once).

        Raises:
            PermissionDeniedError: the principal is not an admin.
            AlreadyExistsError: the name is taken.
        """
        if not principal.is_admin:
            raise PermissionDeniedError("only admins create users")
        name = names.check_name(name, "user")
        key = new_key()
        t = now()
        with self.db.write() as conn:
            if store.get_user(conn, name) is not None:
                raise AlreadyExistsError(f"user {name!r} exists already")
            row = store.ensure_user(conn, name, bool(is_admin), t)
            key_id = store.insert_key(
                conn, row["id"], hash_key(key), key[:8], "created by " + principal.name, t
            )
            record(conn, principal, "user.created", f"user/{name}", after={"is_admin": is_admin})
            record(conn, principal, "key.created", f"user/{name}", after={"key": key_id})
        return {"user": name, "is_admin": bool(is_admin), "key": key}

    def create_service_account(self, principal: Principal, name: str, team: str) -> Info:
        """A user without a password owned by ``team``, for CI, with a first key (shown
        once). The team's admins manage its keys.

        Raises:
            PermissionDeniedError: not an organization admin.
            NotFoundError: no such team.
            AlreadyExistsError: the name is taken.
        """
        if not principal.is_admin:
            raise PermissionDeniedError("only admins create service accounts")
        name = names.check_name(name, "user")
        key, t = new_key(), now()
        with self.db.write() as conn:
            team_id = access_store.team_id(conn, team)
            if team_id is None:
                raise NotFoundError(f"team {team!r} not found")
            if store.get_user(conn, name) is not None:
                raise AlreadyExistsError(f"user {name!r} exists already")
            user_id = store.insert_service_account(conn, name, team_id, t)
            key_id = store.insert_key(conn, user_id, hash_key(key), key[:8], "first key", t)
            subject = f"user/{name}"
            record(conn, principal, "service_account.created", subject, after={"team": team})
            record(conn, principal, "key.created", subject, after={"key": key_id})
        return {"user": name, "is_admin": False, "key": key, "team": team}

    def users(self, principal: Principal) -> list[Info]:
        """Every user: name, admin, service account's team, whether a password is set.

        Raises:
            PermissionDeniedError: not an organization admin.
        """
        if not principal.is_admin:
            raise PermissionDeniedError("only admins list users")
        with self.db.read() as conn:
            rows = store.list_users(conn)
        return [
            {
                "name": r["name"],
                "is_admin": bool(r["is_admin"]),
                "created_at": r["created_at"],
                "has_password": bool(r["has_password"]),
                "team": r["team"],
            }
            for r in rows
        ]

    def set_password(self, principal: Principal, name: str, password: str) -> None:
        """Set a user's password (themselves, or anyone for an admin); their web sessions
        end.

        Raises:
            PermissionDeniedError: someone else's password, and not an admin.
            InvalidInputError: a password shorter than 8 or longer than 1024 characters, or
                a service account (which signs in with keys only).
            NotFoundError: no such user.
        """
        if principal.name != name and not principal.is_admin:
            raise PermissionDeniedError("only admins set other users' passwords")
        if not isinstance(password, str) or not 8 <= len(password) <= 1024:
            raise InvalidInputError("a password has 8 to 1024 characters")
        with self.db.write() as conn:
            row = store.get_user(conn, names.check_name(name, "user"))
            if row is None:
                raise NotFoundError(f"user {name!r} not found")
            if row.get("owner_team_id") is not None:
                raise InvalidInputError(
                    f"{name!r} is a service account: it signs in with API keys only"
                )
            store.set_password_hash(conn, row["id"], hash_password(password))
            store.delete_user_sessions(conn, row["id"])
            record(conn, principal, "password.set", f"user/{name}")

    def set_own_password(self, principal: Principal, password: str) -> None:
        """Set the caller's own password (see :meth:`set_password`)."""
        self.set_password(principal, principal.name, password)

    def authenticate_password(self, name: str, password: str) -> Principal:
        """The principal for a user name and password.

        Raises:
            AuthenticationError: unknown user, no password set, or a wrong password.
        """
        with self.db.read() as conn:
            row = store.get_user(conn, name) if isinstance(name, str) else None
        stored = row.get("password_hash") if row else None
        if row is None or not stored or not verify_password(password, stored):
            raise AuthenticationError("wrong user name or password")
        return Principal(row["id"], row["name"], bool(row["is_admin"]))

    # -- keys --------------------------------------------------------------------------

    def _owner(self, conn: Connection, principal: Principal, user: str | None) -> dict[str, Any]:
        """The user whose keys ``principal`` acts on: themselves; anyone for an admin; a
        service account of a team they are an admin of.

        Raises:
            NotFoundError: no such user, or one whose keys the principal may not manage
                (as if there were none: key holders are not disclosed).
        """
        if user is None or user == principal.name:
            row = store.get_user_by_id(conn, principal.user_id)
        else:
            row = store.get_user(conn, user) if isinstance(user, str) else None
            if row is not None and not self._manages(conn, principal, row):
                row = None
        if row is None:
            raise NotFoundError(f"user {user!r} not found")
        return row

    @staticmethod
    def _manages(conn: Connection, principal: Principal, row: dict[str, Any]) -> bool:
        if principal.is_admin or row["id"] == principal.user_id:
            return True
        team = row.get("owner_team_id")
        return team is not None and access_store.team_role(conn, team, principal.user_id) == "admin"

    def create_key(
        self,
        principal: Principal,
        name: str | None = None,
        expires_in: float | None = None,
        user: str | None = None,
    ) -> Info:
        """A new API key (shown once) for the caller, or for ``user`` (an admin, or an admin
        of the team owning that service account), named, expiring ``expires_in`` seconds
        from now when given.

        Raises:
            InvalidInputError: an expiry not in (0, ten years].
            NotFoundError: no such user, or not one whose keys the caller manages.
        """
        if expires_in is not None and not 0 < expires_in <= MAX_KEY_SECONDS:
            raise InvalidInputError("expires_in is a number of seconds up to ten years")
        key, t = new_key(), now()
        expires_at = t + expires_in if expires_in is not None else None
        with self.db.write() as conn:
            owner = self._owner(conn, principal, user)
            key_id = store.insert_key(
                conn, owner["id"], hash_key(key), key[:8], name, t, expires_at
            )
            record(
                conn,
                principal,
                "key.created",
                f"user/{owner['name']}",
                after={"key": key_id, "name": name, "expires_at": expires_at},
            )
            row = store.get_key(conn, key_id)
        assert row is not None
        return {**_key_info(row, t), "key": key}

    def list_keys(
        self, principal: Principal, user: str | None = None, all_users: bool = False
    ) -> list[Info]:
        """The caller's keys, or ``user``'s (see :meth:`create_key`), or with ``all_users``
        every user's (organization admins); newest first, never the keys themselves.

        Raises:
            PermissionDeniedError: ``all_users`` and not an organization admin.
            NotFoundError: no such user, or not one whose keys the caller manages.
        """
        if all_users and not principal.is_admin:
            raise PermissionDeniedError("only admins list every user's keys")
        t = now()
        with self.db.read() as conn:
            owner = None if all_users else self._owner(conn, principal, user)
            rows = store.list_keys(conn, None if owner is None else owner["id"])
        return [_key_info(r, t) for r in rows]

    def revoke_key(self, principal: Principal, key_id: int) -> None:
        """Revoke a key: every request with it is refused from now on.

        Raises:
            NotFoundError: no such key, or one the caller may not manage.
        """
        with self.db.write() as conn:
            row = store.get_key(conn, key_id)
            owner = store.get_user_by_id(conn, row["user_id"]) if row else None
            if row is None or owner is None or not self._manages(conn, principal, owner):
                raise NotFoundError(f"API key {key_id} not found")
            if store.revoke_key(conn, key_id, now()):
                record(
                    conn,
                    principal,
                    "key.revoked",
                    f"user/{row['user']}",
                    before={"key": key_id, "name": row["description"]},
                )


def _key_info(row: dict[str, Any], t: float) -> Info:
    if row["revoked_at"] is not None:
        state = "revoked"
    elif row["expires_at"] is not None and row["expires_at"] <= t:
        state = "expired"
    else:
        state = "active"
    return {
        "id": row["id"],
        "user": row["user"],
        "name": row["description"],
        "prefix": row["prefix"],
        "created_at": row["created_at"],
        "expires_at": row["expires_at"],
        "revoked_at": row["revoked_at"],
        "state": state,
    }
