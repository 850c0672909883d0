"""The OpenAPI document, made from the operation declarations.

Every declared operation gets its parameters, its request body and its success response
from its models, each error status it may answer with the one error shape, and the bearer
scheme. The hand-written byte routes come from FastAPI's own generator; each states its
bodies and statuses with :func:`hand_written`, and gets the bearer scheme unless public.
"""

from __future__ import annotations

import copy
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from pydantic.json_schema import models_json_schema
from starlette.responses import Response

from modelbay.contract import entities
from modelbay.contract.entities import Entity
from modelbay.contract.operations import COMMON_ERRORS, OPERATIONS, Access, Operation
from modelbay.server.api.routes import list_fields

REF = "#/components/schemas/{model}"
DESCRIPTION = (
    'Every error answers with one shape, `{"error": {"code", "message", "details"}}`. '
    "A request whose target (path and query) passes about 64 KiB is refused by the HTTP "
    "server before it reaches the API: 400 with a plain-text body, and the connection closed."
)
STATUS_TEXT = {
    400: "Invalid input (code invalid_input, invalid_name, invalid_path, ...)",
    401: "No key, or a key that is unknown, revoked or expired",
    403: "The caller's role does not allow it",
    404: "Not found (or not visible to the caller)",
    409: "Conflict, or it exists already",
    413: "A body or value over its documented limit",
    429: "Too many attempts; retry after the Retry-After seconds",
    507: "The server's storage is full",
}
ERROR_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["error"],
    "properties": {
        "error": {
            "type": "object",
            "required": ["code", "message", "details"],
            "properties": {
                "code": {"type": "string"},
                "message": {"type": "string"},
                "details": {"type": "object"},
            },
        }
    },
}


BYTES: dict[str, Any] = {
    "application/octet-stream": {"schema": {"type": "string", "format": "binary"}}
}


def hand_written(
    success: dict[int, type[Entity] | str],
    errors: tuple[int, ...] = (),
    *,
    body: dict[str, Any] | None = None,
    public: bool = False,
) -> dict[str, Any]:
    """The route arguments that document a hand-written route as truly as a declared one.

    ``success`` maps each success status to its entity, or to a description of a body of
    bytes (or of a redirect, for 3xx); ``errors`` are its statuses besides
    :data:`COMMON_ERRORS`; ``body`` is its request body's content, by media type.
    """
    responses: dict[int | str, Any] = {}
    for status, answer in success.items():
        if isinstance(answer, str):
            content = {} if 300 <= status < 400 else {"content": BYTES}
            responses[status] = {"description": answer, **content}
        else:
            responses[status] = {
                "description": answer.__doc__ or "Success",
                "content": _json(answer),
            }
    responses.update(_error_responses(() if public else (*COMMON_ERRORS, *errors)))
    extra: dict[str, Any] = {"security": []} if public else {}
    if body is not None:
        extra["requestBody"] = {"required": True, "content": body}
    # Response: no default JSON body of its own, only the responses stated here.
    return {"responses": responses, "openapi_extra": extra, "response_class": Response}


def _json(model: type[Any]) -> dict[str, Any]:
    return {"application/json": {"schema": {"$ref": REF.format(model=model.__name__)}}}


def _error_responses(statuses: tuple[int, ...]) -> dict[str, Any]:
    return {
        str(status): {
            "description": STATUS_TEXT[status],
            "content": {"application/json": {"schema": {"$ref": REF.format(model="Error")}}},
        }
        for status in sorted(set(statuses))
    }


def _operation(op: Operation[Any, Any], schemas: dict[str, Any]) -> dict[str, Any]:
    model_schema = copy.deepcopy(schemas[op.request.__name__ + "-input"])
    properties: dict[str, Any] = model_schema.get("properties", {})
    required = set(model_schema.get("required", []))
    parameters: list[dict[str, Any]] = [
        {"name": name, "in": "path", "required": True, "schema": properties.pop(name)}
        for name in op.path_params
    ]
    document: dict[str, Any] = {
        "operationId": op.name,
        "summary": op.summary,
        "tags": [op.tag],
    }
    if op.access is Access.ADMIN:
        document["description"] = "Organization admins only."
    elif op.access is Access.TEAM_ADMIN:
        document["description"] = "Organization admins and the admins of the team it names."
    elif op.role is not None:
        document["description"] = (
            f"Needs the {op.role.label.replace('_', ' ')} role (or higher) in the registry or"
            " project it names; without any role there the answer is 404."
        )
    if op.role is not None:
        document["x-modelbay-role"] = op.role.label
    if op.has_body:
        body = {
            "type": "object",
            "properties": properties,
            "additionalProperties": False,
        }
        body_required = sorted(required - set(op.path_params))
        if body_required:
            body["required"] = body_required
        document["requestBody"] = {
            "required": bool(body_required),
            "content": {"application/json": {"schema": body}},
        }
    else:
        lists = list_fields(op.request)
        for name, schema in properties.items():
            parameter: dict[str, Any] = {
                "name": name,
                "in": "query",
                "required": name in required,
                "schema": schema,
            }
            if name in lists:
                parameter.update(style="form", explode=False)
            parameters.append(parameter)
    if parameters:
        document["parameters"] = parameters
    success = op.success_status
    responses: dict[str, Any] = {}
    if success == 204:
        responses["204"] = {"description": "Done"}
    else:
        if op.media_type == "application/json":
            content = _json(op.response)
        else:
            content = {op.media_type: {"schema": {"type": "string"}}}
        description = op.response.__doc__ if op.media_type != "application/json" else None
        responses[str(success)] = {"description": description or "Success", "content": content}
        if op.creates:
            responses["200"] = {"description": "It existed already", "content": content}
    errors = (*COMMON_ERRORS, *op.errors)
    if op.access in (Access.ADMIN, Access.TEAM_ADMIN):
        errors = (*errors, 403)
    responses.update(_error_responses(errors))
    document["responses"] = responses
    if op.access is not Access.PUBLIC:
        document["security"] = [{"bearer": []}]
    return document


def openapi(app: FastAPI, prefix: str) -> dict[str, Any]:
    """The whole document: declared operations, then the hand-written routes."""
    generated = get_openapi(title=app.title, version=app.version, routes=app.routes)
    models: list[tuple[type[Any], Any]] = []
    for op in OPERATIONS.values():
        models.append((op.request, "validation"))
        models.append((op.response, "serialization"))
    keyed, defs = models_json_schema(models, ref_template=REF)
    schemas: dict[str, Any] = dict(defs.get("$defs", {}))
    for (model, mode), schema in keyed.items():
        if mode == "validation":
            name = model.__name__ + "-input"
            resolved = schema if "properties" in schema else _resolve(schema, schemas)
            schemas[name] = resolved
    schemas["Error"] = ERROR_SCHEMA
    paths: dict[str, dict[str, Any]] = {}
    for op in OPERATIONS.values():
        paths.setdefault(prefix + op.path, {})[op.method.lower()] = _operation(op, schemas)
    for path, methods in generated.get("paths", {}).items():
        for method, document in methods.items():
            if method in paths.get(path, {}):
                continue
            # Validation errors answer 400 with the error shape, never FastAPI's 422.
            document.get("responses", {}).pop("422", None)
            document.setdefault("security", [{"bearer": []}])
            paths.setdefault(path, {})[method] = document
    for name, schema in generated.get("components", {}).get("schemas", {}).items():
        if name not in ("HTTPValidationError", "ValidationError"):
            schemas.setdefault(name, schema)
    # Only the request schemas' properties were used, inline: drop their wrappers.
    for name in [n for n in schemas if n.endswith("-input")]:
        del schemas[name]
    for model in vars(entities).values():
        if isinstance(model, type) and issubclass(model, entities.Entity):
            schemas.setdefault(model.__name__, model.model_json_schema(ref_template=REF))
    return {
        "openapi": "3.1.0",
        "info": {"title": app.title, "version": app.version, "description": DESCRIPTION},
        "paths": paths,
        "components": {
            "schemas": schemas,
            "securitySchemes": {
                "bearer": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "An API key (modelbay user create, modelbay login)",
                }
            },
        },
    }


def _resolve(schema: dict[str, Any], defs: dict[str, Any]) -> dict[str, Any]:
    ref = schema.get("$ref", "")
    return dict(defs.get(ref.rsplit("/", 1)[-1], schema))
