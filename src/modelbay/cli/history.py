"""The audit trail: who changed what, and when."""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer

from modelbay import names
from modelbay.cli.common import (
    JsonFlag,
    api,
    collection_path,
    fail_on_error,
    fmt_time,
    has_selector,
    parse,
    print_json,
    print_table,
)

MAX_VALUE_CHARS = 60


def register(app: typer.Typer) -> None:
    app.command("history")(history)


def history(
    target: Annotated[
        str,
        typer.Argument(
            help="A collection (model-registry/MNIST) or a version (model-registry/MNIST:v3, "
            "project/name:v1).",
            metavar="REF_OR_COLLECTION",
        ),
    ],
    limit: Annotated[
        int, typer.Option("--limit", "-n", metavar="N", min=1, max=1000, help="At most this many.")
    ] = 100,
    as_json: JsonFlag = False,
) -> None:
    """Show who changed a collection or a version, newest first."""
    with fail_on_error(as_json):
        ref = parse(target)
        if isinstance(ref, names.RegistryRef) and not has_selector(target):
            events = api().collection(collection_path(target)).history(limit=limit)
        else:
            events = api().history(str(ref), limit=limit)
    if as_json:
        print_json(events)
        return
    print_table(
        ["time", "actor", "action", "subject", "change"],
        (
            [
                fmt_time(e["time"]),
                e["actor"],
                e["action"],
                e["subject"],
                _change(e["before"], e["after"]),
            ]
            for e in events
        ),
    )


def _change(before: Any, after: Any) -> str:
    """``alias=production, version=v1 -> alias=production, version=v2``."""
    if before is None and after is None:
        return ""
    return f"{_side(before)} -> {_side(after)}"


def _side(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, dict):
        return ", ".join(f"{k}={_short(v)}" for k, v in sorted(value.items()))
    return _short(value)


def _short(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value, sort_keys=True, default=str)
    return text if len(text) <= MAX_VALUE_CHARS else text[: MAX_VALUE_CHARS - 3] + "..."
