"""Artifact commands: fetch a version's files."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from modelbay.cli.common import api, fail_on_error


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
            "--root", help="Directory to write into (default ./artifacts/<name>-<version>)."
        ),
    ] = None,
) -> None:
    """Download the files of a version (verified) and print the directory."""
    with fail_on_error():
        directory = api().artifact(ref).download(root)
    typer.echo(directory)
