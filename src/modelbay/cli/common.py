"""Shared CLI plumbing: errors become one clear line and a non-zero exit."""

from __future__ import annotations

import contextlib
import json
import sys
from collections.abc import Iterator
from typing import Any

import typer

from modelbay.errors import ModelbayError


@contextlib.contextmanager
def fail_on_error() -> Iterator[None]:
    try:
        yield
    except ModelbayError as exc:
        typer.echo(f"error: {exc.message} [{exc.code}]", err=True)
        raise typer.Exit(2 if exc.status < 500 else 1) from None


def print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=2, sort_keys=True, default=str) + "\n")
