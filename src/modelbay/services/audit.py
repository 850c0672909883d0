"""The organization-wide audit log: every event, filtered and paged, for organization admins.

Events are written by every service in the transaction of their change (``core.record``);
this reads them across every registry, project and user, newest first, paged by event id
(keyset: a page costs the same however deep it is).
"""

from __future__ import annotations

from modelbay.errors import InvalidInputError, PermissionDeniedError
from modelbay.services.core import Info, Principal
from modelbay.services.registry import event_info
from modelbay.store import auth as store
from modelbay.store.database import Database

MAX_PAGE = 10_000


class AuditService:
    def __init__(self, db: Database) -> None:
        self.db = db

    def events(
        self,
        principal: Principal,
        actor: str | None = None,
        action: str | None = None,
        subject: str | None = None,
        since: float | None = None,
        until: float | None = None,
        limit: int = 100,
        page_token: str | None = None,
    ) -> Info:
        """One page of events, newest first: ``{"events": [...], "next_page_token"}``.

        ``action`` may end in ``*`` (``alias.*``); ``subject`` names an object and finds the
        events of what it holds too (a collection finds its versions'); ``since`` and
        ``until`` are seconds since the epoch (``until`` excluded).

        Raises:
            PermissionDeniedError: not an organization admin.
            InvalidInputError: a malformed page token or limit.
        """
        if not principal.is_admin:
            raise PermissionDeniedError("only organization admins read the audit log")
        if not 1 <= limit <= MAX_PAGE:
            raise InvalidInputError(f"limit is 1 to {MAX_PAGE}")
        before = None
        if page_token is not None:
            if not page_token.isdigit() or len(page_token) > 19:
                raise InvalidInputError("malformed page_token: pass the one a page returned")
            before = int(page_token)
        with self.db.read() as conn:
            rows = store.audit_events(
                conn,
                limit=limit + 1,
                before_id=before,
                actor=actor or None,
                action=action or None,
                subject=subject or None,
                since=since,
                until=until,
            )
        more = len(rows) > limit
        rows = rows[:limit]
        return {
            "events": [event_info(r) for r in rows],
            "next_page_token": str(rows[-1]["id"]) if more else None,
        }
