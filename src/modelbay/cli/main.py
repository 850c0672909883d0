"""The ``modelbay`` command: one sub-command (or group) per noun."""

from __future__ import annotations

import os
from pathlib import Path

import typer

from modelbay.cli import artifact as artifact_cli
from modelbay.cli import auth as auth_cli
from modelbay.cli import cache as cache_cli
from modelbay.cli import gc as gc_cli
from modelbay.cli import history as history_cli
from modelbay.cli import lineage as lineage_cli
from modelbay.cli import registry as registry_cli
from modelbay.cli import sync as sync_cli
from modelbay.cli.common import fail_on_error

app = typer.Typer(
    help="modelbay: a model registry. Log, link, promote and use models.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
auth_cli.register(app)
registry_cli.register(app)
artifact_cli.register(app)
history_cli.register(app)
lineage_cli.register(app)
sync_cli.register(app)
cache_cli.register(app)
gc_cli.register(app)


#: How long a stopping server lets requests in flight finish: under the 10 s Docker waits
#: before SIGKILL (Kubernetes waits 30 s), so that the server closes its connections itself.
SHUTDOWN_SECONDS = 8


@app.callback()
def _root() -> None:
    """modelbay: a model registry. Log, link, promote and use models."""


@app.command()
def server(
    host: str = typer.Option("127.0.0.1", help="Address to listen on."),
    port: int = typer.Option(8765, help="Port to listen on."),
    data_dir: Path | None = typer.Option(
        None, help="Data directory (default $MODELBAY_DIR or ~/.modelbay)."
    ),
    db: str | None = typer.Option(
        None, help="Database URL, e.g. postgresql://user@host/db (default SQLite)."
    ),
    workers: int = typer.Option(1, min=1, max=64, help="Worker processes."),
    access_log: bool = typer.Option(False, help="Log every request."),
    demo: bool = typer.Option(False, help="Log a demo project into the store first (once)."),
    blob_store: str | None = typer.Option(
        None, help="Where bytes go: a directory, or s3://bucket/prefix (default DATA_DIR/blobs)."
    ),
    s3_endpoint_url: str | None = typer.Option(None, help="Endpoint of an S3-compatible store."),
    shutdown_timeout: int = typer.Option(
        SHUTDOWN_SECONDS,
        min=1,
        help="On SIGTERM or Ctrl-C, seconds requests in flight get to finish before their "
        "connections are closed (a client that stopped reading would otherwise hold the "
        "server up forever). Cut uploads resume when logged again.",
    ),
) -> None:
    """Serve the REST API (and UI) over the data directory or database."""
    import uvicorn

    from modelbay.server.app import create_app, prepare_to_serve
    from modelbay.server.protocol import NoDelayHTTPProtocol
    from modelbay.services import Services
    from modelbay.settings import Settings

    with fail_on_error():
        settings = Settings.from_env()
        if data_dir is not None:
            settings = settings.with_(data_dir=data_dir.expanduser().resolve())
        if db is not None:
            settings = settings.with_(db_url=db)
        if blob_store is not None:
            settings = settings.with_(blob_store=blob_store)
        if s3_endpoint_url is not None:
            settings = settings.with_(s3_endpoint_url=s3_endpoint_url)
        settings = settings.with_(url=None, api_key=None)
        admin_key = os.environ.get("MODELBAY_ADMIN_KEY") or None
        if demo:
            from modelbay.demo import seed

            if seed(settings):
                typer.echo(
                    "modelbay: logged the demo project 'models_quickstart' and model 'MNIST'"
                )
        services = Services.open(settings)
        typer.echo(
            f"modelbay: data in {settings.data_dir}, database {_safe_url(settings.database_url)}"
        )
        if workers == 1:
            app_ = create_app(settings, services, admin_key)
            typer.echo(f"modelbay: serving on http://{host}:{port}")
            typer.echo(f"modelbay: web UI at http://{host}:{port}/")
            if host in ("localhost", "::1") or host.startswith("127."):
                from modelbay.server.ui import login_link

                typer.echo(
                    "modelbay: sign in to the web UI as admin (this link works once, within "
                    f"15 minutes): http://{host}:{port}{login_link(app_)}"
                )
            prepare_to_serve(app_)
            uvicorn.run(
                app_,
                host=host,
                port=port,
                access_log=access_log,
                log_level="warning",
                http=NoDelayHTTPProtocol,
                timeout_graceful_shutdown=shutdown_timeout,
            )
            return
        printed = services.auth.bootstrap_admin(admin_key)
        if printed:
            typer.echo(f"modelbay: created user 'admin' with API key (shown once): {printed}")
        services.close()
        os.environ["MODELBAY_DIR"] = str(settings.data_dir)
        if settings.db_url:
            os.environ["MODELBAY_DB"] = settings.db_url
        if settings.blob_store:
            os.environ["MODELBAY_BLOB_STORE"] = settings.blob_store
        if settings.s3_endpoint_url:
            os.environ["MODELBAY_S3_ENDPOINT_URL"] = settings.s3_endpoint_url
        typer.echo(f"modelbay: serving on http://{host}:{port} with {workers} workers")
        uvicorn.run(
            "modelbay.server.app:app_from_env",
            factory=True,
            host=host,
            port=port,
            workers=workers,
            access_log=access_log,
            log_level="warning",
            http=NoDelayHTTPProtocol,
            timeout_graceful_shutdown=shutdown_timeout,
        )


def _safe_url(url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)


def main() -> None:
    app()
