"""``modelbay login``: check an API key against a server and remember it."""

from __future__ import annotations

import os
from typing import Annotated

import typer

from modelbay.cli.common import fail_on_error
from modelbay.contract.operations import WHOAMI
from modelbay.contract.requests import NoArgs


def register(app: typer.Typer) -> None:
    app.command("login")(login)


def login(
    url: Annotated[
        str | None,
        typer.Argument(help="Server URL, e.g. http://host:8765 (default $MODELBAY_URL)."),
    ] = None,
    key: Annotated[
        str | None,
        typer.Option(
            "--key",
            help="The API key (asked for, hidden, when not given; a key typed "
            "on the command line stays in the shell history).",
        ),
    ] = None,
) -> None:
    """Check an API key against a server and save it for that URL.

    The key goes into the data directory (readable by its owner only), so that later commands
    with MODELBAY_URL set need no MODELBAY_API_KEY.
    """
    from modelbay.errors import InvalidInputError
    from modelbay.sdk.transport import HttpTransport
    from modelbay.settings import Settings, save_key

    with fail_on_error():
        settings = Settings.from_env()
        url = (url or settings.url or "").rstrip("/")
        if not url:
            raise InvalidInputError(
                "no server URL: run 'modelbay login http://host:port' or set MODELBAY_URL"
            )
        if not url.startswith(("http://", "https://")):
            raise InvalidInputError(f"server URL {url!r} must start with http:// or https://")
        if key is None:
            key = typer.prompt("API key", hide_input=True)
        key = key.strip()
        if not key:
            raise InvalidInputError("the API key is empty")
        transport = HttpTransport(url, key)
        try:
            who = transport.call(WHOAMI, NoArgs())
        finally:
            transport.close()
        path = save_key(settings.data_dir, url, key)
    admin = " (admin)" if who.is_admin else ""
    typer.echo(f"logged in to {url} as {who.user}{admin}; key saved in {path}")
    if os.environ.get("MODELBAY_API_KEY", key) != key:
        typer.echo(
            "note: MODELBAY_API_KEY is set and takes precedence over the saved key", err=True
        )
