"""Web sessions, one-time sign-in links and the sign-in throttle, kept in the database so
that every worker and replica of a deployment agrees on them.

A session is a random token in the browser's (signed) cookie whose sha256 names a row;
signing out deletes the row, so that a copied cookie stops working at once. A sign-in link
works once, on whichever replica opens it first. Failed sign-ins are counted in one row per
key, updated in place, so that the limit holds across replicas.
"""

from __future__ import annotations

import hashlib
import secrets
import time
from collections.abc import Callable

from modelbay import names
from modelbay.errors import NotFoundError, RateLimitedError
from modelbay.services.core import Principal, now, record
from modelbay.store import auth as store
from modelbay.store.database import Database

SESSION_SECONDS = 7 * 24 * 3600
LOGIN_LINK_SECONDS = 15 * 60
#: Failures are counted over this many seconds from the first.
THROTTLE_WINDOW = 300.0


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class SessionService:
    def __init__(
        self,
        db: Database,
        window: float = THROTTLE_WINDOW,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.db = db
        self.window = window
        #: The throttle's clock (a test moves it past the window).
        self.clock = clock

    # -- sessions ------------------------------------------------------------------------

    def start(self, principal: Principal, seconds: float = SESSION_SECONDS) -> str:
        """A new session for ``principal``; returns its token (for the cookie only)."""
        token, t = secrets.token_urlsafe(32), now()
        with self.db.write() as conn:
            store.insert_session(conn, _digest(token), principal.user_id, t, t + seconds)
            record(conn, principal, "session.started", f"user/{principal.name}")
        return token

    def principal(self, token: object) -> Principal | None:
        """The user of a live session, or None (unknown, ended or expired)."""
        if not isinstance(token, str) or not token:
            return None
        with self.db.read() as conn:
            row = store.session_user(conn, _digest(token), now())
        return Principal(row["id"], row["name"], bool(row["is_admin"])) if row else None

    def end(self, token: object, principal: Principal | None = None) -> None:
        """End a session: its cookie, wherever copied, signs nobody in from now on."""
        if not isinstance(token, str) or not token:
            return
        with self.db.write() as conn:
            store.delete_session(conn, _digest(token))
            if principal is not None:
                record(conn, principal, "session.ended", f"user/{principal.name}")

    # -- one-time sign-in links ----------------------------------------------------------

    def issue_link(self, user: str, seconds: float = LOGIN_LINK_SECONDS) -> str:
        """A token that signs ``user`` in once, within ``seconds``, on any replica.

        Raises:
            NotFoundError: no such user.
        """
        token = secrets.token_urlsafe(32)
        with self.db.write() as conn:
            row = store.get_user(conn, names.check_name(user, "user"))
            if row is None:
                raise NotFoundError(f"user {user!r} not found")
            store.insert_link(conn, _digest(token), row["id"], now() + seconds)
        return token

    def redeem_link(self, token: str) -> Principal | None:
        """The user a link was issued for, once; None for an unknown, used or old link."""
        with self.db.write() as conn:
            user_id = store.redeem_link(conn, _digest(token), now())
            row = store.get_user_by_id(conn, user_id) if user_id is not None else None
        return Principal(row["id"], row["name"], bool(row["is_admin"])) if row else None

    # -- the sign-in throttle ------------------------------------------------------------

    def check_throttle(self, limits: dict[str, int]) -> None:
        """Refuse when a key (``user:<name>``, ``client:<address>``) has ``limit`` failures
        within the window of its first: every attempt is then refused, the right password
        included, until the window has passed.

        Raises:
            RateLimitedError: a key is over its limit (``details["retry_after"]``, seconds).
        """
        t = self.clock()
        with self.db.read() as conn:
            found = store.failures(conn, list(limits))
        for key, (first, count) in found.items():
            if t - first < self.window and count >= limits[key]:
                wait = int(self.window - (t - first)) + 1
                raise RateLimitedError(
                    f"too many failed sign-ins; try again in {wait} s", {"retry_after": wait}
                )

    def sign_in_failed(self, keys: list[str]) -> None:
        t = self.clock()
        with self.db.write() as conn:
            for key in sorted(keys):  # one order: no deadlock between replicas
                store.count_failure(conn, key, t, self.window)

    def sign_in_succeeded(self, key: str) -> None:
        with self.db.write() as conn:
            store.clear_failures(conn, key)
