"""Job deliveries: leased by ``modelbay agent``, run on a team's machine, reported back.

A job is leased for a while; the agent extends the lease while its command runs and
completes the job with the command's exit code, duration and output tail (one
``delivery_attempts`` row). When an agent dies, its lease expires and the next agent of the
queue leases the job again; that lease records the lost attempt first, so the history shows
it. A job whose leases expired :data:`MAX_LEASES` times is given up (``dead``): a command
that kills its agent every time should not run for ever.

An agent leases only jobs of automations in a scope (registry, collection's registry or
project) where its key's user is at least a member: the role that may create automations.
"""

from __future__ import annotations

import secrets
from typing import Any

from sqlalchemy.engine import Connection

from modelbay.automations import payload as payloads
from modelbay.contract.declaration import Role
from modelbay.errors import ConflictError, NotFoundError
from modelbay.jsontext import Info
from modelbay.services import access
from modelbay.services.core import Principal, now
from modelbay.store import access as access_store
from modelbay.store import jobs as store
from modelbay.store import registry as registry_store
from modelbay.store.database import Database

MAX_LEASES = 5
#: Due jobs looked at per lease call (the caller may run none of them in the worst case).
CANDIDATES = 20
SUCCEEDED, FAILED, DEAD = "succeeded", "failed", "dead"


def scope_role(conn: Connection, principal: Principal, kind: str, scope_id: int) -> Role | None:
    """The principal's role in an automation's scope (None: it may not even read it)."""
    if principal.is_admin:
        return Role.ADMIN
    if kind == "project":
        project = access_store.project_row_by_id(conn, scope_id)
        return access.project_role(conn, principal, project) if project else None
    registry_id = scope_id if kind == "registry" else store.collection_registry_id(conn, scope_id)
    registry = registry_store.registry_by_id(conn, registry_id) if registry_id else None
    return access.registry_role(conn, principal, registry) if registry else None


class JobService:
    def __init__(self, db: Database) -> None:
        self.db = db

    def lease(self, principal: Principal, queue: str, agent: str, lease_seconds: float) -> Info:
        """Lease the oldest due job of ``queue`` that the principal may run.

        Returns ``{"leased": False}`` when there is none (an empty queue is no error).
        """
        t = now()
        token = f"{agent[:64]}/{secrets.token_hex(16)}"
        with self.db.write() as conn:
            for row in store.due_jobs(conn, queue, t, CANDIDATES):
                if not row["enabled"]:
                    continue
                role = scope_role(conn, principal, row["scope_kind"], row["scope_id"])
                if role is None or role < Role.MEMBER:
                    continue
                if row["lease_until"] is not None and self._expired(conn, row, t):
                    continue  # given up: its agents kept dying
                if not store.take_lease(conn, row["id"], queue, t, token, t + lease_seconds):
                    continue
                return self._leased(conn, row, token, t + lease_seconds)
        return {"leased": False}

    @staticmethod
    def _expired(conn: Connection, row: dict[str, Any], t: float) -> bool:
        """Record the attempt whose agent's lease expired; True when the job is given up."""
        holder = str(row["leased_by"] or "").split("/")[0]
        store.insert_attempt(
            conn,
            delivery_id=row["id"],
            started_at=t,
            error=f"the lease of agent {holder!r} expired: the agent died or lost contact",
        )
        if row["attempts"] < MAX_LEASES:
            return False
        store.update_delivery(
            conn, row["id"], state=DEAD, lease_until=None, leased_by=None, updated_at=t
        )
        return True

    @staticmethod
    def _leased(conn: Connection, row: dict[str, Any], token: str, until: float) -> Info:
        payload = row["payload"]
        if payload is None:  # the first lease builds the body, as a first webhook attempt does
            event = store.event_row(conn, row["event_id"]) if row["event_id"] else None
            if event is not None:
                payload = payloads.build(conn, event, row["automation_name"])
            else:
                payload = payloads.sample(
                    {"name": row["automation_name"], "event_type": row["event_type"]},
                    "modelbay",
                    now(),
                )
            store.set_payload(conn, row["id"], payload)
        return {
            "leased": True,
            "delivery_id": row["id"],
            "message_id": row["message_id"],
            "lease_token": token,
            "lease_until": until,
            "automation": row["automation_name"],
            "queue": row["queue"],
            "attempt": row["attempts"] + 1,
            "event": payload,
        }

    def _held(self, conn: Connection, delivery_id: int, token: str) -> dict[str, Any]:
        row = store.lock_delivery(conn, delivery_id)
        if row is None or row["action_kind"] != store.JOB or row["leased_by"] is None:
            raise NotFoundError(f"no leased job {delivery_id}")
        if not secrets.compare_digest(str(row["leased_by"]), token):
            raise NotFoundError(f"no leased job {delivery_id} with this lease token")
        if row["state"] != store.PENDING:
            raise ConflictError(f"job {delivery_id} is already {row['state']}")
        return row

    def extend(
        self, principal: Principal, delivery_id: int, lease_token: str, lease_seconds: float
    ) -> Info:
        """Extend a held lease (an agent's heartbeat while its command runs).

        Raises:
            NotFoundError: no job leased with this token (another agent holds it now).
            ConflictError: the job is already done.
        """
        t = now()
        with self.db.write() as conn:
            row = self._held(conn, delivery_id, lease_token)
            until = t + lease_seconds
            store.update_delivery(conn, delivery_id, lease_until=until, updated_at=t)
            return {
                "delivery_id": delivery_id,
                "state": row["state"],
                "attempts": row["attempts"],
                "lease_until": until,
            }

    def complete(
        self,
        principal: Principal,
        delivery_id: int,
        lease_token: str,
        exit_code: int | None,
        duration: float,
        output_tail: str,
        error: str | None,
    ) -> Info:
        """Record the command's outcome (one attempt) and finish the job.

        A job succeeds when its command exited 0; otherwise it failed, and is not run again
        by itself (a deploy that failed is for a person to look at; replay runs it again).

        Raises:
            NotFoundError: no job leased with this token.
            ConflictError: the job is already done.
        """
        t = now()
        state = SUCCEEDED if exit_code == 0 and error is None else FAILED
        with self.db.write() as conn:
            row = self._held(conn, delivery_id, lease_token)
            store.insert_attempt(
                conn,
                delivery_id=delivery_id,
                started_at=t - duration,
                request={"agent": lease_token.split("/")[0], "queue": row["queue"]},
                exit_code=exit_code,
                duration=duration,
                latency_ms=duration * 1000.0,
                output_tail=output_tail,
                error=error,
            )
            store.update_delivery(
                conn, delivery_id, state=state, lease_until=None, leased_by=None, updated_at=t
            )
            return {"delivery_id": delivery_id, "state": state, "attempts": row["attempts"]}
