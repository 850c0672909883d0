"""The base of request and entity models: each model's validator is built the first time it
is used, not at import, and one build at a time.

A client process imports every area's models but uses a handful, and building them all
cost every ``import`` of the contract most of its time. pydantic's ``defer_build`` leaves
the build to the model's first use; but a build is not safe against a concurrent one
(pydantic's ``model_rebuild`` says so), and the SDK and the server use models from several
threads. So every build here takes one lock, and a server builds every model before it
serves (:func:`build_all`).
"""

from __future__ import annotations

import threading
from typing import Any

from pydantic import BaseModel, ConfigDict

_building = threading.RLock()


class DeferredModel(BaseModel):
    """A model whose validator and serializer are built on first use, under one lock."""

    model_config = ConfigDict(defer_build=True)

    @classmethod
    def model_rebuild(cls, **kwargs: Any) -> bool | None:
        """pydantic's ``model_rebuild``, one thread at a time (a model built meanwhile by
        another thread is found complete, and left as it is)."""
        with _building:
            return super().model_rebuild(**kwargs)


def build_all() -> int:
    """Build every model not built yet (a server, before it serves); returns how many."""
    built = 0
    todo: list[type[DeferredModel]] = list(DeferredModel.__subclasses__())
    while todo:
        model = todo.pop()
        todo.extend(model.__subclasses__())
        if model.model_rebuild():
            built += 1
    return built
