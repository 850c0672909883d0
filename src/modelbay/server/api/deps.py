"""What every route needs: the services and the acting principal."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any, TypeVar

from fastapi import Depends, Request
from starlette.concurrency import run_in_threadpool

from modelbay.errors import InvalidInputError
from modelbay.names import Ref, parse_ref
from modelbay.services import Principal, Services


# Both are async so that FastAPI runs them on the event loop, not in a worker thread each:
# the key check is a dictionary hit after the first request of a key.
async def services(request: Request) -> Services:
    return services_of(request)


def services_of(request: Request) -> Services:
    return request.app.state.services  # type: ignore[no-any-return]


async def principal(request: Request) -> Principal:
    return principal_of(request)


def principal_of(request: Request) -> Principal:
    header = request.headers.get("authorization", "")
    scheme, _, key = header.partition(" ")
    token = key.strip() if scheme.lower() == "bearer" else None
    svc: Services = request.app.state.services
    return svc.auth.authenticate(token or None)


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


async def read(svc: Services, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """Run a read-only service call: inline on SQLite, in a worker thread otherwise.

    A SQLite read in WAL mode never waits for a lock and takes a fraction of a millisecond
    in this process, less than handing it to a thread and back; a PostgreSQL read waits on
    the network, so it must not hold the event loop.
    """
    if svc.db.is_sqlite:
        return fn(*args, **kwargs)
    return await run_in_threadpool(fn, *args, **kwargs)
