"""The OpenAPI document, made from the operation declarations.

Every declared operation gets its parameters, its request body and its success response
from its models, each error status it may answer with the one error shape, and the bearer
scheme; the hand-written byte routes come from FastAPI's own generator, with the same
error responses added.
"""

from __future__ import annotations

import copy
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from pydantic.json_schema import models_json_schema

from modelbay.contract import entities
from modelbay.contract.operations import COMMON_ERRORS, OPERATIONS, Access, Operation
from modelbay.server.api.routes import list_fields

REF = "#/components/schemas/{model}"
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
        content = {"application/json": {"schema": {"$ref": REF.format(model=op.response.__name__)}}}
        responses[str(success)] = {"description": "Success", "content": content}
        if op.creates:
            responses["200"] = {"description": "It existed already", "content": content}
    errors = (*COMMON_ERRORS, *op.errors)
    if op.access is Access.ADMIN:
        errors = (*errors, 403)
    responses.update(_error_responses(errors))
    document["responses"] = responses
    if op.access is not Access.PUBLIC:
        document["security"] = [{"bearer": []}]
    return document


def openapi(app: FastAPI, prefix: str) -> dict[str, Any]:
    """The whole document: declared operations, then the hand-written routes."""
    hand_written = get_openapi(title=app.title, version=app.version, routes=app.routes)
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
    for path, methods in hand_written.get("paths", {}).items():
        for method, document in methods.items():
            if method in paths.get(path, {}):
                continue
            document.setdefault("responses", {}).update(_error_responses((400, 401, 404, 413)))
            paths.setdefault(path, {})[method] = document
    for name, schema in hand_written.get("components", {}).get("schemas", {}).items():
        schemas.setdefault(name, schema)
    # Only the request schemas' properties were used, inline: drop their wrappers.
    for name in [n for n in schemas if n.endswith("-input")]:
        del schemas[name]
    for model in vars(entities).values():
        if isinstance(model, type) and issubclass(model, entities.Entity):
            schemas.setdefault(model.__name__, model.model_json_schema(ref_template=REF))
    return {
        "openapi": "3.1.0",
        "info": {"title": app.title, "version": app.version},
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
