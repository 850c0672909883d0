"""Web sessions: a signed cookie holding a CSRF token and, once signed in, the token of a
session kept in the database (see ``services/sessions.py``: signing out deletes it there,
so that a copied cookie stops working).

The cookie is the session's JSON signed by itsdangerous (HMAC-SHA256), with a secret that
every worker of a deployment shares: ``MODELBAY_SECRET_KEY`` when set (needed when replicas run on several
machines), else a random key created once in the data directory. It is HttpOnly and
SameSite=Lax; every form carries the session's CSRF token, compared in constant time.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import os
import secrets
import time
from pathlib import Path
from typing import Any

from itsdangerous import BadData, URLSafeSerializer
from starlette.requests import Request
from starlette.responses import Response

COOKIE = "modelbay_session"
LOGGED_IN_SECONDS = 7 * 24 * 3600
ANONYMOUS_SECONDS = 24 * 3600
LOGIN_LINK_SECONDS = 15 * 60
SECRET_FILE = "session-secret"
_SALT = "modelbay-session"


def load_secret(data_dir: Path, configured: str | None = None) -> bytes:
    """The signing secret: ``configured`` if given, else the one kept in ``data_dir``
    (created on first use; several processes starting at once agree on one)."""
    if configured:
        return hashlib.sha256(configured.encode()).digest()
    path = data_dir / SECRET_FILE
    with contextlib.suppress(FileNotFoundError):
        text = path.read_text().strip()
        if len(text) >= 32:
            return bytes.fromhex(text)
    data_dir.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{SECRET_FILE}.{secrets.token_hex(8)}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(secrets.token_hex(32))
    try:
        os.link(tmp, path)  # atomic, and fails if another process got there first
    except FileExistsError:
        pass
    finally:
        os.unlink(tmp)
    return bytes.fromhex(path.read_text().strip())


class Session:
    """The decoded cookie of one request; changes are written back by the UI's route class."""

    def __init__(self, data: dict[str, Any] | None = None) -> None:
        self.data: dict[str, Any] = data or {}
        self.dirty = False

    @property
    def token(self) -> str | None:
        """The token of the database session this browser is signed in with."""
        sid = self.data.get("sid")
        return sid if isinstance(sid, str) else None

    @property
    def csrf(self) -> str:
        """The token every form of this session carries (made on first use)."""
        token = self.data.get("csrf")
        if not isinstance(token, str):
            token = secrets.token_urlsafe(24)
            self.data["csrf"] = token
            self.data.setdefault("exp", time.time() + ANONYMOUS_SECONDS)
            self.dirty = True
        return token

    def check_csrf(self, token: object) -> bool:
        expected = self.data.get("csrf")
        return (
            isinstance(expected, str)
            and isinstance(token, str)
            and hmac.compare_digest(expected.encode(), token.encode())
        )

    def log_in(self, token: str) -> None:
        """Hold the database session ``token`` (new CSRF token: no fixation)."""
        self.data = {
            "sid": token,
            "csrf": secrets.token_urlsafe(24),
            "exp": time.time() + LOGGED_IN_SECONDS,
        }
        self.dirty = True

    def clear(self) -> None:
        self.data = {}
        self.dirty = True

    def flash(self, message: str, kind: str = "ok") -> None:
        """A message for the next page shown (after a redirect)."""
        self.data["flash"] = [kind, message]
        self.data.setdefault("exp", time.time() + ANONYMOUS_SECONDS)
        self.dirty = True

    def pop_flash(self) -> tuple[str, str] | None:
        value = self.data.pop("flash", None)
        if value is None:
            return None
        self.dirty = True
        if isinstance(value, list) and len(value) == 2:
            return str(value[0]), str(value[1])
        return None


class SessionCodec:
    """Reads and writes the session cookie with one secret."""

    def __init__(self, secret: bytes) -> None:
        self._serializer = URLSafeSerializer(
            secret, salt=_SALT, signer_kwargs={"digest_method": hashlib.sha256}
        )

    def encode(self, session: Session) -> str:
        return str(self._serializer.dumps(session.data))

    def decode(self, value: str | None) -> Session:
        """The session a cookie holds; a missing, forged or expired cookie gives an empty one."""
        if not value or len(value) > 8192:
            return Session()
        try:
            data = self._serializer.loads(value)
        except BadData:
            return Session()
        if not isinstance(data, dict) or not isinstance(data.get("exp"), int | float):
            return Session()
        if data["exp"] < time.time():
            return Session()
        return Session(data)

    def load(self, request: Request) -> Session:
        return self.decode(request.cookies.get(COOKIE))

    def save(self, request: Request, response: Response, session: Session) -> None:
        secure = request.url.scheme == "https"
        if not session.data:
            response.delete_cookie(COOKIE, path="/", secure=secure, httponly=True, samesite="lax")
            return
        max_age = max(0, int(float(session.data.get("exp", 0)) - time.time()))
        response.set_cookie(
            COOKIE,
            self.encode(session),
            max_age=max_age,
            path="/",
            secure=secure,
            httponly=True,
            samesite="lax",
        )
