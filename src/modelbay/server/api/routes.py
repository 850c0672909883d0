"""The REST routes of every declared operation, made from its declaration.

Each route reads its path parameters, then its query string (GET, DELETE) or JSON body,
into the operation's request model, calls the service through
:func:`modelbay.services.dispatch.invoke`, and writes the JSON result with the declared
status. Routes are plain Starlette routes: no per-request dependency resolution.
"""

from __future__ import annotations

import types
import typing
from collections.abc import Awaitable, Callable
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request as HttpRequest
from starlette.responses import Response

from modelbay import jsontext
from modelbay.contract.operations import OPERATIONS, Operation
from modelbay.contract.requests import Request
from modelbay.errors import InvalidInputError
from modelbay.server.api.deps import caller, read, write
from modelbay.server.app import json_response, nonfinite_json_response
from modelbay.services.dispatch import invoke

Endpoint = Callable[[HttpRequest], Awaitable[Response]]


def list_fields(model: type[Request]) -> frozenset[str]:
    """Fields of ``model`` that hold lists: comma-separated in a query string."""
    found = set()
    for name, info in model.model_fields.items():
        annotation = info.annotation
        args = typing.get_args(annotation) if isinstance(annotation, types.UnionType) else ()
        for candidate in (annotation, *args):
            if typing.get_origin(candidate) is list:
                found.add(name)
    return frozenset(found)


def endpoint(op: Operation[Any, Any]) -> Endpoint:
    """The route handler of ``op``."""
    lists = list_fields(op.request)
    path_params = set(op.path_params)
    write_response = nonfinite_json_response if op.nonfinite else json_response
    status = op.success_status

    async def handle(http: HttpRequest) -> Response:
        svc, who = caller(http)
        data: dict[str, Any] = dict(http.path_params)
        if op.has_body:
            raw = await http.body()
            if raw:
                body = parse_json(raw)
                if not isinstance(body, dict):
                    raise InvalidInputError("the request body must be a JSON object")
                clash = path_params.intersection(body)
                if clash:
                    raise InvalidInputError(
                        f"{', '.join(sorted(clash))} belongs in the path, not the body"
                    )
                data.update(body)
        else:
            for key, value in http.query_params.multi_items():
                if key in lists:
                    data[key] = [item for item in value.split(",") if item]
                else:
                    data[key] = value
        request = op.request.parse(data)
        run = write if op.run == "write" else read if op.run == "read" else None
        if run is not None:
            result, created = await run(svc, invoke, svc, op, who, request)
        else:
            result, created = await run_in_threadpool(invoke, svc, op, who, request)
        if status == 204:
            return Response(status_code=204)
        if op.creates:
            return write_response(result, 201 if created else 200)
        return write_response(result, status)

    handle.__name__ = op.name
    handle.__doc__ = op.summary
    return handle


def parse_json(body: bytes) -> Any:
    """A request body's JSON; NaN and the infinities (in metric values) are read too.

    Raises:
        InvalidInputError: it is not JSON, or is nested deeper than jsontext.MAX_DEPTH.
    """
    return jsontext.loads(body)


def declared() -> list[Operation[Any, Any]]:
    """The operations whose routes are made here (not the hand-written ones)."""
    return [op for op in OPERATIONS.values() if not op.custom]
