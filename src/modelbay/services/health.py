"""What an operator asks of a server: is it ready to serve, and how much work is queued."""

from __future__ import annotations

from dataclasses import dataclass

from modelbay.blobs import BlobBackend
from modelbay.errors import ModelbayError
from modelbay.store.automations import delivery_counts
from modelbay.store.blobs import uploads_in_flight
from modelbay.store.database import Database


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    detail: str = ""


class HealthService:
    """Readiness (the database reachable with this modelbay's schema, the blob store
    reachable) and the depth of the work queued in the database, for probes and metrics."""

    def __init__(self, db: Database, backend: BlobBackend) -> None:
        self.db = db
        self.backend = backend

    def ready(self) -> list[Check]:
        """One check per dependency; each says what failed (no exception escapes)."""
        checks = []
        try:
            self.db.check_schema()
            checks.append(Check("database", True))
        except ModelbayError as exc:
            checks.append(Check("database", False, exc.message))
        except Exception as exc:  # unreachable, refused, timed out: the probe's answer
            checks.append(Check("database", False, f"{type(exc).__name__}: {exc}"))
        try:
            self.backend.check()
            checks.append(Check("blob_store", True))
        except Exception as exc:
            checks.append(Check("blob_store", False, f"{type(exc).__name__}: {exc}"))
        return checks

    def queued(self) -> dict[str, int]:
        """Work waiting in the database, by kind (shared by every replica)."""
        with self.db.read() as conn:
            counts = delivery_counts(conn)
            uploads = uploads_in_flight(conn)
        sent = [(kind, state, n) for (kind, state), n in counts.items() if kind != "job"]
        jobs = [(state, n) for (kind, state), n in counts.items() if kind == "job"]
        return {
            "uploads_in_flight": uploads,
            "deliveries_pending": sum(n for _, state, n in sent if state == "pending"),
            "deliveries_failed": sum(n for _, state, n in sent if state in ("failed", "dead")),
            "jobs_queued": sum(n for state, n in jobs if state == "pending"),
            "jobs_failed": sum(n for state, n in jobs if state in ("failed", "dead")),
        }
