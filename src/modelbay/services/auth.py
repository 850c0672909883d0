"""Users, API keys and the principal of a request."""

from __future__ import annotations

import hashlib
import hmac
import secrets
import threading
import time
from collections.abc import Callable

from modelbay import names
from modelbay.errors import (
    AlreadyExistsError,
    AuthenticationError,
    InvalidInputError,
    NotFoundError,
    PermissionDeniedError,
    RateLimitedError,
)
from modelbay.services.core import Info, Principal, now
from modelbay.store import auth as store
from modelbay.store.database import Database

KEY_PREFIX = "mb_"
CACHE_SECONDS = 30.0


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


class SignInThrottle:
    """Failed sign-ins counted per key (``user:<name>``, ``client:<address>``): once a key has
    ``limit`` failures within ``window`` seconds of its first, every attempt under it is
    refused, the right password included, until that window has passed. A success clears
    the user's count. Counted in this process: each replica counts its own.
    """

    def __init__(self, window: float = 300.0, clock: Callable[[], float] = time.monotonic) -> None:
        self.window = window
        self.clock = clock
        self._failures: dict[str, tuple[float, int]] = {}  # key -> (first failure, count)
        self._lock = threading.Lock()

    def check(self, limits: dict[str, int]) -> None:
        """Raises RateLimitedError when a key has reached its limit (key -> limit)."""
        t = self.clock()
        with self._lock:
            for key, limit in limits.items():
                first, count = self._failures.get(key, (t, 0))
                if t - first >= self.window:
                    self._failures.pop(key, None)
                elif count >= limit:
                    wait = int(self.window - (t - first)) + 1
                    raise RateLimitedError(
                        f"too many failed sign-ins; try again in {wait} s",
                        {"retry_after": wait},
                    )

    def failed(self, keys: list[str]) -> None:
        t = self.clock()
        with self._lock:
            if len(self._failures) > 100_000:  # bounded: forget the expired
                self._failures = {k: v for k, v in self._failures.items() if t - v[0] < self.window}
            for key in keys:
                first, count = self._failures.get(key, (t, 0))
                if t - first >= self.window:
                    first, count = t, 0
                self._failures[key] = (first, count + 1)

    def succeeded(self, key: str) -> None:
        with self._lock:
            self._failures.pop(key, None)


class AuthService:
    def __init__(self, db: Database) -> None:
        self.db = db
        self._cache: dict[str, tuple[float, Principal]] = {}
        self._lock = threading.Lock()

    def bootstrap_admin(self, admin_key: str | None = None) -> str | None:
        """Make sure an admin exists; returns a newly made key to show once, else None.

        With ``admin_key`` given, that key is made to work for user ``admin``.
        """
        t = now()
        with self.db.write() as conn:
            existing = store.get_user(conn, "admin")
            admin = store.ensure_user(conn, "admin", True, t)
            if admin_key:
                if store.user_by_key_hash(conn, hash_key(admin_key)) is None:
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

    def cached(self, key: str) -> Principal | None:
        """The principal of ``key`` if it was authenticated lately, else None (then ask
        :meth:`authenticate`, which reads the database): for a caller on an event loop."""
        hit = self._cache.get(hash_key(key))
        return hit[1] if hit is not None and hit[0] > time.monotonic() else None

    def authenticate(self, key: str | None) -> Principal:
        """The principal a key belongs to.

        Raises:
            AuthenticationError: no key, or an unknown one.
        """
        if not key:
            raise AuthenticationError("an API key is required: send 'Authorization: Bearer <key>'")
        digest = hash_key(key)
        hit = self._cache.get(digest)
        if hit is not None and hit[0] > time.monotonic():
            return hit[1]
        with self.db.read() as conn:
            row = store.user_by_key_hash(conn, digest)
        if row is None:
            raise AuthenticationError("unknown API key")
        principal = Principal(row["id"], row["name"], bool(row["is_admin"]))
        with self._lock:
            if len(self._cache) > 10_000:
                self._cache.clear()
            self._cache[digest] = (time.monotonic() + CACHE_SECONDS, principal)
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
            store.insert_key(
                conn, row["id"], hash_key(key), key[:8], "created by " + principal.name, t
            )
        return {"user": name, "is_admin": bool(is_admin), "key": key}

    def set_password(self, principal: Principal, name: str, password: str) -> None:
        """Set a user's password (themselves, or anyone for an admin).

        Raises:
            PermissionDeniedError: someone else's password, and not an admin.
            InvalidInputError: a password shorter than 8 or longer than 1024 characters.
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
            store.set_password_hash(conn, row["id"], hash_password(password))

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

    def create_key(self, principal: Principal, description: str | None = None) -> str:
        key = new_key()
        with self.db.write() as conn:
            store.insert_key(conn, principal.user_id, hash_key(key), key[:8], description, now())
        return key
