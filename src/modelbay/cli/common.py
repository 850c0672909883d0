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

from modelbay.errors import AuthenticationError, ModelbayError

if TYPE_CHECKING:
    from rich.console import Console

    from modelbay.sdk.api import Api

#: The ``--json`` flag every listing command takes: ``as_json: JsonFlag = False``.
JsonFlag = Annotated[bool, typer.Option("--json", help="Print machine-readable JSON.")]


@contextlib.contextmanager
def fail_on_error() -> Iterator[None]:
    try:
        yield
    except ModelbayError as exc:
        hint = ""
        if isinstance(exc, AuthenticationError):
            hint = " (run 'modelbay login' or set MODELBAY_API_KEY)"
        typer.echo(f"error: {exc.message} [{exc.code}]{hint}", err=True)
        raise typer.Exit(2 if exc.status < 500 else 1) from None
    except OSError as exc:  # e.g. a download directory that cannot be written
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from None
    except Exception as exc:
        # The HTTP and S3 clients' errors say what is wrong with the network or the store,
        # as an OSError does of the disk; any other exception is a bug, shown with its trace.
        if not isinstance(exc, _client_errors()):
            raise
        typer.echo(f"error: {type(exc).__name__}: {exc}", err=True)
        raise typer.Exit(1) from None


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


def fmt_size(size: int | None) -> str:
    if size is None:
        return ""
    if size < 1024:
        return f"{size} B"
    value = float(size)
    for unit in ("KB", "MB", "GB"):
        value /= 1024
        if value < 1024:
            return f"{value:.1f} {unit}"
    return f"{value / 1024:.1f} TB"


def fmt_list(values: Iterable[object]) -> str:
    return ", ".join(str(v) for v in values)
