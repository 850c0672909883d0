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

from modelbay.blobs import BlobBackend
from modelbay.errors import InvalidInputError, PermissionDeniedError
from modelbay.services.blobs import session_of
from modelbay.services.core import Info, Principal, now
from modelbay.store import blobs as store
from modelbay.store.database import Database

DEFAULT_GC_GRACE = 24 * 3600.0
#: Blobs looked at per transaction of a garbage collection.
GC_PAGE = 1000
#: Upload sessions begun longer ago than this are aborted, and their parts removed (the
#: default; see ``GarbageService.collect``). A disk store reserves a session's whole size when
#: it begins, so a session killed and never resumed holds that room until then.
STALE_UPLOAD_SECONDS = 7 * 24 * 3600.0


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
        abandon_uploads_after: float = STALE_UPLOAD_SECONDS,
    ) -> Info:
        """Remove stored blobs that no live version references and that were stored longer ago
        than ``grace_seconds``; abort the upload sessions begun longer ago than
        ``abandon_uploads_after`` seconds (a week by default), which frees the room their
        parts hold (on a disk store, their whole reserved size). A session aborted while a
        client still sends to it fails that client's parts, and its next attempt begins anew.

        Raises:
            PermissionDeniedError: the principal is not an admin.
            InvalidInputError: a period that is not a number of seconds, 0 or more (NaN
                neither: SQLite would keep every blob, and PostgreSQL, where NaN sorts above
                every number, remove unreferenced blobs of any age).
        """
        if not principal.is_admin:
            raise PermissionDeniedError("only admins collect garbage")
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
        removed, freed = self._unreferenced(now() - grace_seconds, dry_run)
        aborted, aborted_bytes = self._finish_leftovers(now() - abandon_uploads_after, dry_run)
        with self.db.read() as conn:
            totals = store.totals(conn)
        return {
            "dry_run": dry_run,
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
            with self.db.write() as conn:
                batch, position = store.gc_candidates(conn, before, GC_PAGE, position)
                if batch and not dry_run:
                    store.mark(conn, [b["sha256"] for b in batch], store.DELETING)
            if batch and not dry_run:
                for b in batch:
                    self.backend.delete(b["sha256"])
                with self.db.write() as conn:
                    store.delete_rows(conn, [b["sha256"] for b in batch])
            removed += len(batch)
            freed += sum(int(b["size"]) for b in batch)
            if position is None:
                return removed, freed

    def _finish_leftovers(self, begun_before: float, dry_run: bool) -> tuple[int, int]:
        """Finish the blobs an earlier, crashed collection left ``deleting``; abort the upload
        sessions begun before ``begun_before``. Returns how many sessions were (or, in a dry
        run, would be) aborted, and their sizes' sum."""
        if dry_run:
            with self.db.read() as conn:
                stale = store.stale_uploads(conn, begun_before)
            return len(stale), sum(int(r["size"]) for r in stale)
        with self.db.write() as conn:
            leftovers = store.deleting(conn)
        for digest in leftovers:
            self.backend.delete(digest)
        with self.db.write() as conn:
            store.delete_rows(conn, leftovers)
            stale = store.stale_uploads(conn, begun_before)
            for row in stale:
                store.set_upload_state(conn, row["id"], "aborted")
        for row in stale:
            self.backend.abort(session_of(row))
        return len(stale), sum(int(r["size"]) for r in stale)
