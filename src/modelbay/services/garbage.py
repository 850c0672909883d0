"""Garbage collection: removing stored blobs that no live version references.

A collection pages through the blobs stored before a grace period, oldest first. For each
page it marks the unreferenced rows ``deleting`` (after re-reading the references with the
rows locked), removes their bytes, then the rows. A commit share-locks the rows of the
blobs it references (:meth:`~modelbay.services.blobs.BlobService.require_stored`), so it
either sees a blob live or waits and then sees it gone, and the client uploads it again.
A blob uploaded for a commit in flight is younger than the grace period, so it is never
a candidate.
"""

from __future__ import annotations

import time
from typing import Any

from sqlalchemy.engine import Connection

from modelbay.blobs import BlobBackend
from modelbay.errors import InvalidInputError, PermissionDeniedError
from modelbay.jsontext import Info
from modelbay.services.core import Principal, now
from modelbay.services.lifecycle import expire_versions
from modelbay.services.upload_sessions import session_of
from modelbay.store import blobs as store
from modelbay.store.database import Database

DEFAULT_GC_GRACE = 24 * 3600.0
#: Blobs looked at per transaction of a garbage collection.
GC_PAGE = 1000
#: Upload sessions begun longer ago than this, and idle as long, are aborted and their parts
#: removed (the default; see ``GarbageService.collect``). A disk store reserves a session's
#: whole size when it begins, so a session killed and never resumed holds that room until then.
STALE_UPLOAD_SECONDS = 7 * 24 * 3600.0
#: What a store holds for no session the database knows is removed after at least this long
#: (a session's row is written just after its staging file is made).
ORPHAN_MIN_AGE = 3600.0


class GarbageService:
    """Removes the bytes no live version references (admins only)."""

    def __init__(self, db: Database, backend: BlobBackend) -> None:
        self.db = db
        self.backend = backend

    def collect(
        self,
        principal: Principal,
        *,
        grace_seconds: float = DEFAULT_GC_GRACE,
        dry_run: bool = False,
        abandon_uploads_after: float | None = None,
    ) -> Info:
        """Remove stored blobs that no live version references and that were stored longer ago
        than ``grace_seconds``; abort the open upload sessions begun, and last sent to, longer
        ago than ``abandon_uploads_after`` seconds (None: a week), which frees the room they
        hold (on a disk store, their whole reserved size). Sessions being completed are left a
        week whatever is asked. A disk store's staging files that no session in the database
        owns (a server stopped between the two) go after the same time, and at least an hour.

        Raises:
            PermissionDeniedError: the principal is not an admin.
            InvalidInputError: a period that is not a number of seconds, 0 or more (NaN
                neither: SQLite would keep every blob, and PostgreSQL, where NaN sorts above
                every number, remove unreferenced blobs of any age).
        """
        if not principal.is_admin:
            raise PermissionDeniedError("only admins collect garbage")
        if abandon_uploads_after is None:
            abandon_uploads_after = STALE_UPLOAD_SECONDS
        for field, what, value in (
            ("grace_seconds", "the grace period", grace_seconds),
            ("abandon_uploads_after", "the age of abandoned uploads", abandon_uploads_after),
        ):
            if isinstance(value, bool) or not isinstance(value, int | float) or not value >= 0:
                raise InvalidInputError(
                    f"{what} must be a number of seconds, 0 or more, not {value!r:.40}",
                    {"field": field},
                )
        t0 = time.monotonic()
        expired = expire_versions(self.db, principal, dry_run)
        removed, freed = self._unreferenced(now() - grace_seconds, dry_run)
        aborted, aborted_bytes = self._finish_leftovers(abandon_uploads_after, dry_run)
        if not dry_run:
            self.db.regain_room()
        with self.db.read() as conn:
            totals = store.totals(conn)
        return {
            "dry_run": dry_run,
            "expired": expired,
            "removed": removed,
            "freed_bytes": freed,
            "aborted_uploads": aborted,
            "aborted_upload_bytes": aborted_bytes,
            "remaining": totals,
            "seconds": round(time.monotonic() - t0, 3),
        }

    def _unreferenced(self, before: float, dry_run: bool) -> tuple[int, int]:
        """Page through the blobs stored before ``before``; unless ``dry_run``, remove the
        unreferenced ones page by page. Returns how many blobs and bytes were (or, in a dry
        run, would be) removed."""
        removed = freed = 0
        position: tuple[float, str] | None = None
        while True:
            with self.db.write(frees_room=True) as conn:
                batch, position = store.gc_candidates(conn, before, GC_PAGE, position)
                if batch and not dry_run:
                    store.mark(conn, [b["sha256"] for b in batch], store.DELETING)
            if batch and not dry_run:
                for b in batch:
                    self.backend.delete(b["sha256"], b["object_key"])
                with self.db.write(frees_room=True) as conn:
                    store.delete_rows(conn, [b["sha256"] for b in batch])
            removed += len(batch)
            freed += sum(int(b["size"]) for b in batch)
            if position is None:
                return removed, freed

    def _finish_leftovers(self, idle: float, dry_run: bool) -> tuple[int, int]:
        """Finish the blobs an earlier, crashed collection left ``deleting``; abort the open
        upload sessions begun and idle for ``idle`` seconds (completing ones after a week),
        and sweep the store's orphaned staging. Returns how many sessions were (or, in a dry
        run, would be) aborted, and their declared sizes' sum (what they may hold)."""
        t = now()

        def candidates(conn: Connection) -> list[dict[str, Any]]:
            return store.stale_uploads(conn, t - idle, ("open",)) + store.stale_uploads(
                conn, t - STALE_UPLOAD_SECONDS, ("completing",)
            )

        with self.db.read() as conn:
            found = candidates(conn)
        # A session still taking parts is not abandoned, however long ago it began.
        idle_ids = {
            row["id"]
            for row in found
            if row["state"] != "open"
            or (self.backend.touched_at(session_of(row)) or 0.0) < t - idle
        }
        if dry_run:
            stale = [row for row in found if row["id"] in idle_ids]
            return len(stale), sum(int(r["size"]) for r in stale)
        with self.db.write(frees_room=True) as conn:
            leftovers = store.deleting(conn)
        for digest, key in leftovers.items():
            self.backend.delete(digest, key)
        with self.db.write(frees_room=True) as conn:
            store.delete_rows(conn, list(leftovers))
            # Read again under the lock: a session completed meanwhile is not aborted.
            stale = [row for row in candidates(conn) if row["id"] in idle_ids]
            for row in stale:
                store.set_upload_state(conn, row["id"], "aborted")
            # A completion that recorded its blob and died before it settled leaves its
            # session 'completing' with its object recorded: that object is the blob's.
            own = {row["id"]: self.backend.stored_key(session_of(row)) for row in stale}
            kept = store.recorded_keys(conn, [k for k in own.values() if k is not None])
        for row in stale:
            if own[row["id"]] not in kept:
                self.backend.abort(session_of(row))
        with self.db.read() as conn:
            live = store.live_upload_ids(conn)
        self.backend.sweep_staging(t - max(idle, ORPHAN_MIN_AGE), live)
        return len(stale), sum(int(r["size"]) for r in stale)
