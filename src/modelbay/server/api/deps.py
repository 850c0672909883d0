"""What every route needs: the services and the acting principal."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any, TypeVar

from fastapi import Depends, Request
from starlette.concurrency import run_in_threadpool

from modelbay.errors import InvalidInputError
from modelbay.names import Ref, parse_ref
from modelbay.server.middleware import PRINCIPAL_KEY, bearer_token
from modelbay.services import Principal, Services, WouldWait


# Both are async so that FastAPI runs them on the event loop, not in a worker thread each:
# the key itself was checked by the gate (server/middleware.py).
async def services(request: Request) -> Services:
    return services_of(request)


def services_of(request: Request) -> Services:
    return request.app.state.services  # type: ignore[no-any-return]


async def principal(request: Request) -> Principal:
    return principal_of(request)


def principal_of(request: Request) -> Principal:
    """The principal the key gate found (see server/middleware.py), or the key's now."""
    found = request.scope.get(PRINCIPAL_KEY)
    if found is not None:
        return found  # type: ignore[no-any-return]
    return services_of(request).auth.authenticate(bearer_token(request.scope))


def caller(request: Request) -> tuple[Services, Principal]:
    """The services and the authenticated principal, for the hottest routes: taken from the
    request directly, as FastAPI's dependency resolution costs 20-40 µs a request here."""
    return services_of(request), principal_of(request)


T = TypeVar("T")

Svc = Annotated[Services, Depends(services)]
Who = Annotated[Principal, Depends(principal)]


def ref_of(text: str) -> Ref:
    return parse_ref(text)


def only(fields: dict[str, Any], allowed: set[str]) -> dict[str, Any]:
    unknown = set(fields) - allowed
    if unknown:
        raise InvalidInputError(f"unknown field(s): {', '.join(sorted(unknown))}")
    return fields


async def write(svc: Services, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """Run a service call that writes in one transaction: inline on SQLite when the
    database lock is free, in a worker thread otherwise.

    Handing a call to a thread and back cost ~0.2 ms here, more than a link's whole SQLite
    transaction. But a call on the event loop must never wait for the lock (another process,
    or one of this server's threads, may hold it for a while): it asks not to, and when the
    lock is taken it is repeated in a worker thread, where it waits as usual. Only for
    calls whose first write transaction comes before any other effect (files, a second
    transaction): those are what a refused call would repeat.
    """
    if svc.db.is_sqlite:
        try:
            with svc.db.without_waiting():
                return fn(*args, **kwargs)
        except WouldWait:
            pass
    return await run_in_threadpool(fn, *args, **kwargs)


async def read(svc: Services, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """Run a read-only service call: inline on SQLite, in a worker thread otherwise.

    A SQLite read in WAL mode never waits for a lock and takes a fraction of a millisecond
    in this process, less than handing it to a thread and back; a PostgreSQL read waits on
    the network, so it must not hold the event loop.
    """
    if svc.db.is_sqlite:
        return fn(*args, **kwargs)
    return await run_in_threadpool(fn, *args, **kwargs)
