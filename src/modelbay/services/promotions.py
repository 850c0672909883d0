"""Promotion requests: a registry member asks for a protected alias on a version, and the
registry's admins approve or reject.

The alias moves in the transaction that records the last required approval. A request
whose alias has moved meanwhile (or whose version was unlinked) is stale and cannot be
approved. Requests, approvals and rejections are events (``promotion.requested``,
``promotion.approved``, ``promotion.rejected``, ``promotion.cancelled``), in the version's
history next to the ``alias.added`` that an approval causes.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.engine import Connection

from modelbay import names
from modelbay.contract.operations import Role
from modelbay.errors import ConflictError, InvalidInputError, NotFoundError, PermissionDeniedError
from modelbay.jsontext import Info
from modelbay.names import RegistryRef
from modelbay.services import access
from modelbay.services.core import Located, Principal, locate, now, record
from modelbay.services.registry import set_link_alias
from modelbay.store import access as store
from modelbay.store import registry as registry_store
from modelbay.store.database import Database

PENDING, APPROVED, REJECTED, STALE, CANCELLED = (
    "pending",
    "approved",
    "rejected",
    "stale",
    "cancelled",
)
STATES = (PENDING, APPROVED, REJECTED, STALE, CANCELLED)
MAX_REASON = 4000


def _check_text(value: object, what: str, *, required: bool) -> str | None:
    if value is None and not required:
        return None
    if not isinstance(value, str) or (required and not value.strip()) or len(value) > MAX_REASON:
        raise InvalidInputError(f"{what} is a text of 1 to {MAX_REASON} characters")
    return value


class PromotionService:
    def __init__(self, db: Database) -> None:
        self.db = db

    def request(
        self, principal: Principal, ref: RegistryRef, alias: str, reason: str | None = None
    ) -> Info:
        """Ask that ``alias`` point at the registry version ``ref``.

        When the principal may move the alias themselves (a registry admin, or an alias that
        is not protected) it just moves, and the answer is an approved request with no
        reviews; otherwise the request waits for the registry's admins, and needs a reason.
        Asking again for what one's pending request asks returns that request.

        Raises:
            InvalidInputError: a request without a reason, or a bad alias.
            NotFoundError: no such version the principal may read.
            PermissionDeniedError: the principal is not a member of the registry.
            ConflictError: the version holds the alias already (nothing to request).
        """
        if not isinstance(ref, RegistryRef):
            raise InvalidInputError(f"{ref} is not a registry version: promote takes one")
        alias = names.check_alias(alias)
        text = _check_text(reason, "reason", required=False)
        t = now()
        with self.db.write() as conn:
            registry = access.require_registry(conn, principal, ref.registry, Role.MEMBER)
            where = locate(conn, ref)
            assert where.link_id is not None and where.collection_id is not None
            row = registry_store.link_row(conn, where.link_id)
            assert row is not None
            role = access.registry_role(conn, principal, registry)
            protected = access.protected_pattern(conn, registry["id"], alias) is not None
            holder = registry_store.alias_holder(conn, where.collection_id, alias)
            direct = not protected or (role is not None and role >= Role.ADMIN)
            if not direct:
                asked = self._pending_same(conn, principal, where, alias, row, holder, text)
                if asked is not None:
                    return self._info(conn, asked)
            request_id = store.insert_request(
                conn,
                registry_id=registry["id"],
                collection_id=where.collection_id,
                link_id=where.link_id,
                link_index=row["link_index"],
                alias=alias,
                holder_link_id=holder[0] if holder else None,
                reason=text or "",
                user_id=principal.user_id,
                state=APPROVED if direct else PENDING,
                created_at=t,
                decided_at=t if direct else None,
            )
            subject = f"{ref.registry}-registry/{ref.collection}:v{row['link_index']}"
            if direct:
                set_link_alias(conn, principal, where, alias, row["link_index"])
            else:
                record(
                    conn,
                    principal,
                    "promotion.requested",
                    subject,
                    **_scope(where),
                    after={"alias": alias, "request": request_id, "reason": text},
                )
            return self._info(conn, request_id)

    @staticmethod
    def _pending_same(
        conn: Connection,
        principal: Principal,
        where: Located,
        alias: str,
        row: dict[str, Any],
        holder: tuple[int, int] | None,
        reason: str | None,
    ) -> int | None:
        """Check a request about to be made: the id of the caller's pending request for the
        same move, if any (asked again: the same request).

        Raises:
            ConflictError: the version holds the alias already.
            InvalidInputError: no reason given.
        """
        assert where.link_id is not None and where.collection_id is not None
        if holder is not None and holder[0] == where.link_id:
            raise ConflictError(
                f"v{row['link_index']} holds {alias!r} already: there is nothing to request",
                {"alias": alias, "version": f"v{row['link_index']}"},
            )
        if reason is None or not reason.strip():
            raise InvalidInputError(
                f"alias {alias!r} is protected: a request for it needs a reason (--reason), "
                "which the registry's admins read"
            )
        return store.pending_request_of(
            conn, where.collection_id, alias, link_id=where.link_id, user_id=principal.user_id
        )

    def list_requests(
        self,
        principal: Principal,
        registry: str,
        *,
        state: str | None = None,
        limit: int = 100,
        before: int | None = None,
    ) -> list[Info]:
        """A registry's promotion requests, newest first (``state`` filters).

        Raises:
            NotFoundError: no such registry the principal may read.
        """
        if state is not None and state not in STATES:
            raise InvalidInputError(f"state must be one of {', '.join(STATES)}")
        if not 1 <= limit <= 1000:
            raise InvalidInputError("limit must be between 1 and 1000")
        with self.db.read() as conn:
            reg = access.require_registry(conn, principal, registry)
            rows = store.list_requests(conn, reg["id"], state=state, limit=limit, before_id=before)
            return self._infos(conn, rows)

    def get(self, principal: Principal, request_id: int) -> Info:
        """One promotion request.

        Raises:
            NotFoundError: no such request, or one in a registry the principal may not read.
        """
        with self.db.read() as conn:
            self._require(conn, principal, request_id, Role.RESTRICTED_VIEWER)
            return self._info(conn, request_id)

    def approve(self, principal: Principal, request_id: int, comment: str | None = None) -> Info:
        """Approve a pending request; the last required approval moves the alias.

        Raises:
            NotFoundError: no such request the principal may read.
            PermissionDeniedError: not the registry's admin, or the principal's own request.
            ConflictError: the request is not pending, is stale (the alias moved or the version
                was unlinked), or the principal approved it already.
        """
        text = _check_text(comment, "comment", required=False)
        t = now()
        with self.db.write() as conn:
            self._lock_collection_of(conn, request_id)
            req, registry = self._decidable(conn, principal, request_id)
            if req["user_id"] == principal.user_id:
                raise PermissionDeniedError("you cannot approve your own promotion request")
            where = self._where(conn, req, registry)
            holder = registry_store.alias_holder(conn, req["collection_id"], req["alias"])
            stale = where is None or (holder[0] if holder else None) != req["holder_link_id"]
            if not stale:
                assert where is not None
                return self._approve(conn, principal, req, registry, where, text, t)
        # Marked in a transaction of its own, so that refusing the approval keeps it.
        with self.db.write() as conn:
            store.set_request_state(conn, request_id, STALE, t)
        raise ConflictError(
            f"request {request_id} is stale: {req['alias']!r} moved or the version was "
            "unlinked since it was made",
            {"state": STALE},
        )

    def _approve(
        self,
        conn: Connection,
        principal: Principal,
        req: dict[str, Any],
        registry: dict[str, Any],
        where: Located,
        text: str | None,
        t: float,
    ) -> Info:
        """Record an approval; the last one required moves the alias."""
        request_id = req["id"]
        reviews = store.reviews_of(conn, [request_id])[request_id]
        if any(r["user"] == principal.name for r in reviews):
            raise ConflictError(f"you have reviewed request {request_id} already")
        store.insert_review(conn, request_id, principal.user_id, APPROVED, text, t)
        approvals = 1 + sum(1 for r in reviews if r["decision"] == APPROVED)
        subject = f"{registry['name']}-registry/{where.collection}:v{req['link_index']}"
        record(
            conn,
            principal,
            "promotion.approved",
            subject,
            **_scope(where),
            after={
                "alias": req["alias"],
                "request": request_id,
                "approvals": approvals,
                "required": registry["required_approvals"],
                "comment": text,
            },
        )
        if approvals >= registry["required_approvals"]:
            store.set_request_state(conn, request_id, APPROVED, t)
            set_link_alias(conn, principal, where, req["alias"], req["link_index"])
        return self._info(conn, request_id)

    def reject(self, principal: Principal, request_id: int, comment: str | None = None) -> Info:
        """Reject a pending request (the registry's admins).

        Raises:
            NotFoundError: no such request the principal may read.
            PermissionDeniedError: not the registry's admin.
            ConflictError: the request is not pending.
        """
        text = _check_text(comment, "comment", required=False)
        t = now()
        with self.db.write() as conn:
            req, registry = self._decidable(conn, principal, request_id)
            store.insert_review(conn, request_id, principal.user_id, REJECTED, text, t)
            store.set_request_state(conn, request_id, REJECTED, t)
            self._event(conn, principal, req, registry, "promotion.rejected", text)
            return self._info(conn, request_id)

    def cancel(self, principal: Principal, request_id: int) -> Info:
        """Withdraw one's own pending request (or, for a registry admin, anyone's).

        Raises:
            NotFoundError: no such request the principal may read.
            PermissionDeniedError: someone else's request, and not the registry's admin.
            ConflictError: the request is not pending.
        """
        with self.db.write() as conn:
            req = self._require(conn, principal, request_id, Role.RESTRICTED_VIEWER, lock=True)
            registry = registry_store.get_registry(conn, req["registry"])
            assert registry is not None
            role = access.registry_role(conn, principal, registry)
            if req["user_id"] != principal.user_id and (role is None or role < Role.ADMIN):
                raise PermissionDeniedError("only the requester or a registry admin cancels")
            if req["state"] != PENDING:
                raise ConflictError(f"request {request_id} is {req['state']}, not pending")
            store.set_request_state(conn, request_id, CANCELLED, now())
            self._event(conn, principal, req, registry, "promotion.cancelled", None)
            return self._info(conn, request_id)

    # -- helpers ----------------------------------------------------------------------------

    def _require(
        self,
        conn: Connection,
        principal: Principal,
        request_id: int,
        needed: Role,
        *,
        lock: bool = False,
    ) -> dict[str, Any]:
        req = store.get_request(conn, request_id, lock=lock)
        registry = (
            registry_store.registry_by_id(conn, req["registry_id"]) if req is not None else None
        )
        if req is None or registry is None:
            raise NotFoundError(f"promotion request {request_id} not found")
        try:
            access.require_registry(conn, principal, registry["name"], needed)
        except NotFoundError:
            raise NotFoundError(f"promotion request {request_id} not found") from None
        return {**req, "registry": registry["name"]}

    @staticmethod
    def _lock_collection_of(conn: Connection, request_id: int) -> None:
        """Lock the collection of a request before the request itself, so that approvals in
        one collection take turns. Each locked its own request and then, moving the alias,
        the other pending requests for it (to mark them stale): two at once deadlocked on
        PostgreSQL. Nothing is said here; the caller checks access next."""
        found = store.get_request(conn, request_id)
        if found is not None:
            name = registry_store.collection_name(conn, found["collection_id"])
            registry_store.get_collection(conn, found["registry_id"], name, lock=True)

    def _decidable(
        self, conn: Connection, principal: Principal, request_id: int
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        req = self._require(conn, principal, request_id, Role.ADMIN, lock=True)
        if req["state"] != PENDING:
            raise ConflictError(f"request {request_id} is {req['state']}, not pending")
        registry = registry_store.get_registry(conn, req["registry"])
        assert registry is not None
        return req, registry

    @staticmethod
    def _where(conn: Connection, req: dict[str, Any], registry: dict[str, Any]) -> Located | None:
        """The request's registry version, if it is still linked."""
        row = registry_store.link_row(conn, req["link_id"])
        if row is None or row["collection_id"] != req["collection_id"]:
            return None
        collection = registry_store.collection_name(conn, req["collection_id"])
        return Located(
            row["id"],
            row["artifact_id"],
            None,
            req["link_id"],
            req["collection_id"],
            registry["id"],
            registry["name"],
            collection,
            row=row,
        )

    def _event(
        self,
        conn: Connection,
        principal: Principal,
        req: dict[str, Any],
        registry: dict[str, Any],
        action: str,
        comment: str | None,
    ) -> None:
        collection = registry_store.collection_name(conn, req["collection_id"])
        record(
            conn,
            principal,
            action,
            f"{registry['name']}-registry/{collection}:v{req['link_index']}",
            registry_id=registry["id"],
            collection_id=req["collection_id"],
            link_id=req["link_id"],
            after={"alias": req["alias"], "request": req["id"], "comment": comment},
        )

    def _info(self, conn: Connection, request_id: int) -> Info:
        row = store.get_request(conn, request_id)
        assert row is not None
        return self._infos(conn, [row])[0]

    @staticmethod
    def _infos(conn: Connection, rows: list[dict[str, Any]]) -> list[Info]:
        reviews = store.reviews_of(conn, [r["id"] for r in rows])
        out = []
        for r in rows:
            registry = registry_store.registry_by_id(conn, r["registry_id"])
            collection = registry_store.collection_name(conn, r["collection_id"])
            assert registry is not None
            ref = f"{registry['name']}-registry/{collection}:v{r['link_index']}"
            out.append(
                {
                    "id": r["id"],
                    "registry": registry["name"],
                    "collection": collection,
                    "version": f"v{r['link_index']}",
                    "ref": ref,
                    "alias": r["alias"],
                    "reason": r["reason"],
                    "requester": r["requester"],
                    "state": r["state"],
                    "created_at": r["created_at"],
                    "decided_at": r["decided_at"],
                    "required_approvals": registry["required_approvals"],
                    "reviews": reviews[r["id"]],
                }
            )
        return out


def _scope(where: Located) -> dict[str, Any]:
    return {
        "registry_id": where.registry_id,
        "collection_id": where.collection_id,
        "link_id": where.link_id,
        "artifact_id": where.artifact_id,
        "version_id": where.version_id,
    }
