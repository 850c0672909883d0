"""``modelbay login``: check an API key against a server and remember it."""

from __future__ import annotations

import os
from typing import Annotated

import typer

from modelbay.cli.common import JsonFlag, fail_on_error, print_json


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
            metavar="KEY",
            help="The API key (asked for, hidden, when not given; a key typed "
            "on the command line stays in the shell history).",
        ),
    ] = None,
    as_json: JsonFlag = False,
) -> None:
    """Check an API key against a server and save it for that URL.

    The key goes into the data directory (readable by its owner only), so that later commands
    with MODELBAY_URL set need no MODELBAY_API_KEY.
    """
    from modelbay.errors import AuthenticationError, InvalidInputError
    from modelbay.sdk.api import Api
    from modelbay.settings import Settings, save_key

    with fail_on_error(as_json, login_hint=False):
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
        try:
            who = Api(settings.with_(url=url, api_key=key)).whoami()
        except AuthenticationError as exc:
            raise AuthenticationError(
                f"{url} refused this API key: check it, or ask an admin for a new one",
                exc.details,
            ) from None
        path = save_key(settings.data_dir, url, key)
    if as_json:
        print_json(
            {
                "url": url,
                "user": who["user"],
                "is_admin": who.get("is_admin", False),
                "key_file": str(path),
            }
        )
    else:
        admin = " (admin)" if who.get("is_admin") else ""
        typer.echo(f"logged in to {url} as {who['user']}{admin}; key saved in {path}")
    if os.environ.get("MODELBAY_API_KEY", key) != key:
        typer.echo(
            "note: MODELBAY_API_KEY is set and takes precedence over the saved key", err=True
        )
