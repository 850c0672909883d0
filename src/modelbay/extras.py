"""The optional parts of modelbay and the pip extra that installs each.

``pip install modelbay`` is the SDK, the CLI and the embedded mode; the server and web UI,
the PostgreSQL driver and the S3 client come with ``modelbay[server]``, ``[postgres]`` and
``[s3]``. Each part calls :func:`require` before it imports them, so that a missing one is a
one-line error naming the command to run rather than a traceback.
"""

from __future__ import annotations

import importlib

from modelbay.errors import MissingExtraError

#: Modules that only each extra brings (markupsafe and markdown-it-py, which the server also
#: imports, come with the base install's alembic and rich). tests/packaging checks them
#: against pyproject.toml.
EXTRAS: dict[str, tuple[str, ...]] = {
    "server": (
        "fastapi", "starlette", "uvicorn", "jinja2", "plotly", "prometheus_client",
        "pythonjsonlogger",
    ),
    "postgres": ("psycopg",),
    "s3": ("boto3", "botocore"),
}


def require(extra: str, needed_by: str) -> None:
    """Import the modules of ``extra``, for ``needed_by`` (``"modelbay server"``).

    Raises:
        MissingExtraError: one of them cannot be imported.
    """
    for module in EXTRAS[extra]:
        try:
            importlib.import_module(module)
        except ImportError as exc:
            raise MissingExtraError(
                f"{needed_by} needs modelbay's {extra!r} extra ({exc}): "
                f"pip install 'modelbay[{extra}]'",
                {"extra": extra, "module": module},
            ) from exc
