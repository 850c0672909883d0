"""Artifact commands: fetch a version's files."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from modelbay.cli.common import JsonFlag, api, fail_on_error, print_json


def register(app: typer.Typer) -> None:
    app.command("download")(download)


def download(
    ref: Annotated[
        str,
        typer.Argument(help="project/name:v1 or model-registry/MNIST:production.", metavar="REF"),
    ],
    root: Annotated[
        Path | None,
        typer.Option(
            "--root",
            metavar="DIR",
            help="Directory to write into (default ./artifacts/<name>-<version>).",
        ),
    ] = None,
    as_json: JsonFlag = False,
) -> None:
    """Download a version's files (verified); print the directory."""
    with fail_on_error(as_json):
        version = api().artifact(ref)
        directory = version.download(root)
    if as_json:
        print_json({"ref": version.qualified_name, "directory": directory})
    else:
        typer.echo(directory)
