"""The organization-wide audit log: every event, filtered and paged, for organization admins.

Events are written by every service in the transaction of their change (``core.record``);
this reads them across every registry, project and user, newest first, paged by event id
(keyset: a page costs the same however deep it is).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from typing import Any

from modelbay.audit_csv import CSV_COLUMNS, csv_row
from modelbay.errors import InvalidInputError, PermissionDeniedError
from modelbay.jsontext import Info
from modelbay.services.core import Principal
from modelbay.services.registry import event_info
from modelbay.store import auth as store
from modelbay.store.database import Database

MAX_PAGE = 10_000
#: Events read per transaction while exporting.
EXPORT_PAGE = 1000
#: Bytes of CSV gathered before a chunk is handed on.
CHUNK_BYTES = 1 << 16


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
        _require_admin(principal)
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

    def export_csv(
        self,
        principal: Principal,
        actor: str | None = None,
        action: str | None = None,
        subject: str | None = None,
        since: float | None = None,
        until: float | None = None,
    ) -> Iterator[str]:
        """Every event the filters of :meth:`events` match, newest first, as chunks of CSV
        text (see :data:`CSV_COLUMNS`): read a page at a time, each in its own transaction,
        as the answer is written, so that a log of any length is exported in bounded memory.
        The permission is checked at the call, before the first chunk.

        Raises:
            PermissionDeniedError: not an organization admin.
        """
        _require_admin(principal)
        filters: dict[str, Any] = {"actor": actor, "action": action, "subject": subject}
        filters.update(since=since, until=until)
        return self._csv_chunks(principal, filters)

    def _csv_chunks(self, principal: Principal, filters: dict[str, Any]) -> Iterator[str]:
        buffer = io.StringIO()
        out = csv.writer(buffer, lineterminator="\n")
        out.writerow(CSV_COLUMNS)
        token: str | None = None
        while True:
            page = self.events(principal, **filters, limit=EXPORT_PAGE, page_token=token)
            for event in page["events"]:
                out.writerow(csv_row(event))
                if buffer.tell() > CHUNK_BYTES:
                    yield buffer.getvalue()
                    buffer.seek(0)
                    buffer.truncate()
            token = page["next_page_token"]
            if token is None:
                break
        yield buffer.getvalue()


def _require_admin(principal: Principal) -> None:
    if not principal.is_admin:
        raise PermissionDeniedError("only organization admins read the audit log")
