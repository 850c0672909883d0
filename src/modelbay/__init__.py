"""modelbay: an open-source model registry, with Weights & Biases' vocabulary.

    import modelbay as wandb
    run = wandb.init(project="models_quickstart")
    run.log({"acc": 0.91})
    run.link_model(path="./my_model.h5", registered_model_name="MNIST")
    run.finish()

Importing this package stays light: the server (FastAPI, uvicorn) is never imported, and the
database layer only when an embedded run or Api is made.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from modelbay.errors import (
    AlreadyExistsError,
    AuthenticationError,
    CommError,
    ConflictError,
    DigestMismatchError,
    Error,
    InvalidInputError,
    InvalidNameError,
    InvalidPathError,
    InvalidReferenceError,
    ModelbayError,
    NotFoundError,
    PermissionDeniedError,
    TransportError,
    UsageError,
)

if TYPE_CHECKING:
    from modelbay.sdk.api import Api
    from modelbay.sdk.artifact import Artifact
    from modelbay.sdk.media import Histogram, Image, Table
    from modelbay.sdk.run import Run, finish, log
    from modelbay.sdk.session import (
        define_metric,
        init,
        link_model,
        log_artifact,
        log_model,
        login,
        save,
        use_artifact,
        use_model,
    )
    from modelbay.sdk.table_parts import JoinedTable, PartitionedTable
    from modelbay.sdk.wandb_settings import Settings, setup, teardown

__version__ = "0.1.0"

#: The current run (set by ``init``, cleared by ``finish``), as ``wandb.run``.
run: Run | None = None

_LAZY = {
    "Api": "modelbay.sdk.api",
    "Artifact": "modelbay.sdk.artifact",
    "Histogram": "modelbay.sdk.media",
    "Image": "modelbay.sdk.media",
    "Table": "modelbay.sdk.media",
    "JoinedTable": "modelbay.sdk.table_parts",
    "PartitionedTable": "modelbay.sdk.table_parts",
    "Run": "modelbay.sdk.run",
    "Settings": "modelbay.sdk.wandb_settings",
    "setup": "modelbay.sdk.wandb_settings",
    "teardown": "modelbay.sdk.wandb_settings",
    "log": "modelbay.sdk.run",
    "finish": "modelbay.sdk.run",
    **{
        name: "modelbay.sdk.session"
        for name in (
            "init",
            "login",
            "define_metric",
            "log_artifact",
            "use_artifact",
            "log_model",
            "use_model",
            "link_model",
            "save",
        )
    },
}


def __getattr__(name: str) -> Any:
    if name in ("config", "summary"):
        # W&B's ``wandb.config`` and ``wandb.summary``: those of the current run; before
        # init, an empty one that no run keeps.
        current = globals().get("run")
        if current is not None:
            return getattr(current, name)
        from modelbay.sdk import run_config

        return run_config.Config() if name == "config" else run_config.Summary()
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'modelbay' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


__all__ = [
    "AlreadyExistsError",
    "Api",
    "Artifact",
    "AuthenticationError",
    "CommError",
    "ConflictError",
    "DigestMismatchError",
    "Histogram",
    "Image",
    "Error",
    "InvalidInputError",
    "InvalidNameError",
    "InvalidPathError",
    "InvalidReferenceError",
    "JoinedTable",
    "ModelbayError",
    "NotFoundError",
    "PartitionedTable",
    "PermissionDeniedError",
    "Run",
    "Settings",
    "Table",
    "TransportError",
    "UsageError",
    "define_metric",
    "finish",
    "init",
    "link_model",
    "log",
    "log_artifact",
    "log_model",
    "login",
    "run",
    "save",
    "setup",
    "teardown",
    "use_artifact",
    "use_model",
]
