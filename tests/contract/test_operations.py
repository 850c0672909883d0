"""The operation declarations agree with the service methods they call."""

from __future__ import annotations

import inspect
import types
import typing
from typing import Any

import pytest

from modelbay.contract.operations import OPERATIONS, Operation
from modelbay.services import Services


def sample(annotation: Any, name: str) -> Any:
    """A valid value of a field, to build a request with."""
    options = typing.get_args(annotation) if isinstance(annotation, types.UnionType) else ()
    kind = next((o for o in options if o is not type(None)), annotation)
    origin = typing.get_origin(kind) or kind
    if origin is typing.Annotated:
        return sample(typing.get_args(kind)[0], name)
    if origin is typing.Literal:
        return typing.get_args(kind)[0]
    if origin is list:
        return []
    if origin is dict:
        return {}
    if origin is bool:
        return False
    if origin is int:
        return 1
    if origin is float:
        return 1.0
    if name in ("ref", "artifact"):
        return "proj/name:v0"
    return "x"


@pytest.mark.parametrize("op", OPERATIONS.values(), ids=lambda op: op.name)
def test_request_binds_to_the_service_method(op: Operation[Any, Any]) -> None:
    fields = {
        name: sample(info.annotation, name)
        for name, info in op.request.model_fields.items()
        if info.is_required()
    }
    request = op.request(**fields)
    group, method = op.service.split(".")
    service_class = typing.get_type_hints(Services)[group]
    signature = inspect.signature(getattr(service_class, method))
    signature.bind(None, None, **request.service_args())  # self, principal, the rest


def test_paths_and_names_are_unique() -> None:
    routes = [(op.method, op.path) for op in OPERATIONS.values()]
    assert len(routes) == len(set(routes))
    for op in OPERATIONS.values():
        assert set(op.path_params) <= set(op.request.model_fields), op.name
