"""``modelbay gc``: remove stored bytes that no live version references."""

from __future__ import annotations

import re
from typing import Annotated

import typer

from modelbay.cli.common import JsonFlag, api, fail_on_error, print_json
from modelbay.errors import InvalidInputError

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_duration(text: str) -> float:
    """``"24h"``, ``"30m"``, ``"7d"``, ``"90s"`` or plain seconds.

    Raises:
        InvalidInputError: anything else.
    """
    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([smhd]?)\s*", text)
    if not m:
        raise InvalidInputError(f"invalid duration {text!r}: use e.g. 24h, 30m, 7d or seconds")
    return float(m.group(1)) * _UNITS[m.group(2) or "s"]


def register(app: typer.Typer) -> None:
    app.command("gc")(gc)


def gc(
    grace: Annotated[
        str,
        typer.Option(
            metavar="DURATION",
            help="Keep blobs stored more recently than this (uploads of commits in flight).",
        ),
    ] = "24h",
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Only say what would be removed.")
    ] = False,
    abandon_uploads_after: Annotated[
        str | None,
        typer.Option(
            metavar="DURATION",
            help="Abort upload sessions begun, and last sent to, longer ago than this, freeing "
            "the room they hold (a disk store reserves a large upload's whole size when it "
            "begins). [default: 7d]",
            show_default=False,
        ),
    ] = None,
    as_json: JsonFlag = False,
) -> None:
    """Remove blobs no live version references (admins only).

    Also aborts upload sessions abandoned for longer than --abandon-uploads-after.
    """
    with fail_on_error(as_json):
        result = api().gc(
            grace_seconds=parse_duration(grace),
            dry_run=dry_run,
            abandon_uploads_after=(
                None if abandon_uploads_after is None else parse_duration(abandon_uploads_after)
            ),
        )
    if as_json:
        print_json(result)
        return
    verb = "would remove" if dry_run else "removed"
    typer.echo(
        f"{verb} {result['removed']} blob(s), {result['freed_bytes']} bytes; "
        f"{result['remaining']['blobs']} blob(s), {result['remaining']['bytes']} bytes remain"
        + (
            f"; {'would abort' if dry_run else 'aborted'} {result['aborted_uploads']} stale "
            f"upload(s) of {result['aborted_upload_bytes']} bytes"
            if result["aborted_uploads"]
            else ""
        )
    )
