"""Shared CLI plumbing: errors become one clear line and a non-zero exit; output is either a
Rich table for people or JSON (``--json``) for scripts."""

from __future__ import annotations

import contextlib
import json
import os
import sys
from collections.abc import Iterable, Iterator, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Any

import typer

from modelbay import names
from modelbay.errors import (
    AuthenticationError,
    InvalidReferenceError,
    ModelbayError,
    TransportError,
)

if TYPE_CHECKING:
    from rich.console import Console

    from modelbay.sdk.api import Api
    from modelbay.sdk.transport import Transport


def group(help: str) -> typer.Typer:
    """A command group; help is Click's plain layout, which keeps each description whole
    at 80 columns (Rich's panels fold it into a narrow column beside the type labels)."""
    return typer.Typer(help=help, no_args_is_help=True, rich_markup_mode=None)


#: The ``--json`` flag every command takes: ``as_json: JsonFlag = False``.
JsonFlag = Annotated[
    bool,
    typer.Option(
        "--json",
        help='Print one JSON document on stdout; an error is {"error": {...}} on stderr.',
    ),
]


@contextlib.contextmanager
def fail_on_error(as_json: bool = False, *, login_hint: bool = True) -> Iterator[None]:
    """Turn an error into one line on stderr (with ``as_json``, the error shape
    ``{"error": {"code", "message", "details"}}``) and a non-zero exit: 2 for the caller's
    mistakes, 1 for the server's, the disk's or the network's.

    ``login_hint``: add "run 'modelbay login'" to an authentication error (not for
    ``login`` itself).
    """
    try:
        yield
    except ModelbayError as exc:
        hint = ""
        if isinstance(exc, AuthenticationError) and login_hint:
            hint = " (run 'modelbay login' or set MODELBAY_API_KEY)"
        _report(exc.code, exc.message, exc.details, as_json, hint)
        raise typer.Exit(2 if exc.status < 500 else 1) from None
    except OSError as exc:  # e.g. a download directory that cannot be written
        details = {"errno": exc.errno, "path": exc.filename} if exc.errno else {}
        _report("os_error", str(exc), details, as_json)
        raise typer.Exit(1) from None
    except Exception as exc:
        # The HTTP and S3 clients' errors say what is wrong with the network or the store,
        # as an OSError does of the disk; any other exception is a bug, shown with its trace.
        if not isinstance(exc, _client_errors()):
            raise
        _report(TransportError.code, f"{type(exc).__name__}: {exc}", {}, as_json)
        raise typer.Exit(1) from None


def _report(
    code: str, message: str, details: dict[str, Any], as_json: bool, hint: str = ""
) -> None:
    if as_json:
        report_json(code, message + hint, details)
    elif code == "os_error":
        typer.echo(f"error: {message}", err=True)
    else:
        typer.echo(f"error: {message} [{code}]{hint}", err=True)


def report_json(code: str, message: str, details: dict[str, Any]) -> None:
    """Write the error shape, ``{"error": {"code", "message", "details"}}``, to stderr."""
    payload = {"error": {"code": code, "message": message, "details": details}}
    sys.stderr.write(json.dumps(payload, sort_keys=True, default=str) + "\n")


def _client_errors() -> tuple[type[BaseException], ...]:
    """The error bases of httpx and botocore, of those already imported (none is imported
    here: a client that was never imported raised nothing)."""
    found: list[type[BaseException]] = []
    httpx = sys.modules.get("httpx")
    if httpx is not None:
        found.append(httpx.HTTPError)
    botocore = sys.modules.get("botocore.exceptions")
    if botocore is not None:
        found.extend((botocore.BotoCoreError, botocore.ClientError))
    return tuple(found)


def print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=2, sort_keys=True, default=str) + "\n")


def api() -> Api:
    """The SDK's ``Api`` configured from the environment (embedded, or ``MODELBAY_URL``)."""
    from modelbay.sdk.api import Api

    return Api()


def transport() -> Transport:
    """The SDK's transport from the environment, for commands that call an operation
    directly (``transport().call(OP, Request(...))``)."""
    from modelbay.sdk.transport import connect

    return connect()


def has_selector(text: str) -> bool:
    """Whether a reference names a version (``:v3``, ``:production``, ``models:/M@prod``)
    rather than a whole collection or artifact."""
    if text.startswith("models:/"):
        rest = text[len("models:/") :]
        return "@" in rest or "/" in rest
    return ":" in text


def registry_name(name: str) -> str:
    """Accept ``model`` and also ``model-registry`` / ``wandb-registry-model``."""
    return name.removeprefix(names.WANDB_REGISTRY_PREFIX).removesuffix(names.REGISTRY_SUFFIX)


def parse(text: str) -> names.Ref:
    """A reference to a version, a collection or an artifact, as the SDK parses it.

    Raises:
        InvalidReferenceError: not a reference; a bare name is told both forms it may take.
    """
    if "/" not in text and not text.startswith("models:/"):
        name = text.partition(":")[0]
        raise InvalidReferenceError(
            f"reference {text!r} names no registry or project: write "
            f"'{names.registry_ref('model', name)}' "
            f"for a registered model, or 'project/{name}' for an artifact",
            {"ref": text},
        )
    return names.parse_ref(text)


def whole(text: str) -> names.Ref:
    """A collection or an artifact, named without a version (its selector is ``latest``).

    Raises:
        InvalidReferenceError: not a reference, or one naming a version.
    """
    ref = parse(text)
    if has_selector(text):
        if isinstance(ref, names.RegistryRef):
            what, path = "collection", names.registry_ref(ref.registry, ref.collection)
        else:
            what, path = "artifact", f"{ref.project}/{ref.name}"
        raise InvalidReferenceError(
            f"{text!r} names a version; give the {what}: {path!r}", {"ref": text}
        )
    return ref


def collection_path(text: str, registry: str = "model") -> str:
    """A collection as the SDK takes it (``model-registry/MNIST``), from that path, from W&B's
    (``wandb-registry-model/MNIST``) or MLflow's (``models:/MNIST``) form, or from a bare
    name, which is in ``registry`` (as ``run.link_model`` puts a bare name in ``model``).

    Raises:
        InvalidReferenceError: a version rather than a collection, or an artifact.
    """
    bare = "/" not in text and not text.startswith("models:/")
    ref = whole(names.registry_ref(registry_name(registry), text) if bare else text)
    if not isinstance(ref, names.RegistryRef):
        raise InvalidReferenceError(
            f"{text!r} is an artifact, not a registry collection: write "
            f"'{names.registry_ref(registry_name(registry), ref.name)}'",
            {"ref": text},
        )
    return names.registry_ref(ref.registry, ref.collection)


def console() -> Console:
    from rich.console import Console

    # Piped output is read by people with wide terminals and by grep: do not fold it at 80.
    if sys.stdout.isatty():
        return Console(highlight=False)
    columns = os.environ.get("COLUMNS", "")
    return Console(width=max(200, int(columns) if columns.isdigit() else 0), highlight=False)


def print_table(
    columns: Sequence[str], rows: Iterable[Sequence[object]], title: str | None = None
) -> None:
    """Print rows as a Rich table; cells are shown as plain text (no markup)."""
    from rich.table import Table
    from rich.text import Text

    table = Table(title=title, title_justify="left")
    for column in columns:
        table.add_column(column, overflow="fold")
    for row in rows:
        table.add_row(*(Text("" if cell is None else str(cell)) for cell in row))
    console().print(table)


def fmt_time(timestamp: float | None) -> str:
    """Seconds since the epoch as local ``YYYY-MM-DD HH:MM:SS``."""
    if timestamp is None:
        return ""
    return datetime.fromtimestamp(timestamp).strftime("%Y-%m-%d %H:%M:%S")


def fmt_list(values: Iterable[object]) -> str:
    return ", ".join(str(v) for v in values)
