"""The ``modelbay`` command: one sub-command (or group) per noun."""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import tempfile
from pathlib import Path
from typing import Annotated, Any

import typer

from modelbay.cli import access as access_cli
from modelbay.cli import account as account_cli
from modelbay.cli import agent as agent_cli
from modelbay.cli import artifact as artifact_cli
from modelbay.cli import auth as auth_cli
from modelbay.cli import automation as automation_cli
from modelbay.cli import cache as cache_cli
from modelbay.cli import db as db_cli
from modelbay.cli import gc as gc_cli
from modelbay.cli import history as history_cli
from modelbay.cli import lineage as lineage_cli
from modelbay.cli import promotion as promotion_cli
from modelbay.cli import registry as registry_cli
from modelbay.cli import sync as sync_cli
from modelbay.cli import team as team_cli
from modelbay.cli.common import fail_on_error

app = typer.Typer(
    help="modelbay: a model registry. Log, link, promote and use models.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,  # Click's plain help: readable at 80 columns (see common.group)
)
auth_cli.register(app)
registry_cli.register(app)
access_cli.register(app)
promotion_cli.register(app)
team_cli.register(app)
artifact_cli.register(app)
history_cli.register(app)
lineage_cli.register(app)
sync_cli.register(app)
cache_cli.register(app)
gc_cli.register(app)
db_cli.register(app)
automation_cli.register(app)
agent_cli.register(app)
account_cli.register(app)


#: How long a stopping server lets requests in flight finish: under the 10 s Docker waits
#: before SIGKILL (Kubernetes waits 30 s), so that the server closes its connections itself.
SHUTDOWN_SECONDS = 8


def _print_version(value: bool) -> None:
    if value:
        from modelbay import __version__

        typer.echo(f"modelbay {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_print_version, is_eager=True, help="Print the version and exit."
        ),
    ] = False,
) -> None:
    """modelbay: a model registry. Log, link, promote and use models."""


@app.command()
def server(
    host: str = typer.Option("127.0.0.1", metavar="ADDRESS", help="Address to listen on."),
    port: int = typer.Option(8765, metavar="PORT", help="Port to listen on."),
    data_dir: Path | None = typer.Option(
        None, metavar="DIR", help="Data directory (default $MODELBAY_DIR or ~/.modelbay)."
    ),
    db: str | None = typer.Option(
        None,
        metavar="URL",
        help="Database URL, e.g. postgresql://user@host/db (default SQLite).",
    ),
    workers: int = typer.Option(1, min=1, max=64, metavar="N", help="Worker processes."),
    access_log: bool = typer.Option(False, "--access-log", help="Log every request."),
    json_logs: bool = typer.Option(
        False, "--json-logs", help="Log one JSON object per line (for log collectors)."
    ),
    demo: bool = typer.Option(
        False, "--demo", help="Log a demo project into the store first (once)."
    ),
    blob_store: str | None = typer.Option(
        None,
        metavar="DIR_OR_URL",
        help="Where bytes go: a directory, or s3://bucket/prefix (default DATA_DIR/blobs).",
    ),
    s3_endpoint_url: str | None = typer.Option(
        None, metavar="URL", help="Endpoint of an S3-compatible store."
    ),
    migrate: bool | None = typer.Option(
        None,
        "--migrate/--no-migrate",
        help="Bring the database's schema up to date first (default: SQLite only; a shared "
        "database is migrated once with 'modelbay db upgrade', and replicas refuse a schema "
        "that is not theirs).",
        show_default=False,
    ),
    allow_private_destinations: bool = typer.Option(
        False,
        "--allow-private-destinations",
        help="Let automations send to loopback and private network addresses (refused "
        "by default: a webhook URL must not reach into the server's own network).",
    ),
    shutdown_timeout: int = typer.Option(
        SHUTDOWN_SECONDS,
        min=1,
        metavar="SECONDS",
        help="On SIGTERM or Ctrl-C, seconds requests in flight get to finish before their "
        "connections are closed (a client that stopped reading would otherwise hold the "
        "server up forever). Cut uploads resume when logged again.",
    ),
) -> None:
    """Serve the REST API and the web UI.

    They serve the data directory, or the database and blob store given.
    """
    from modelbay.extras import require

    with fail_on_error():
        require("server", "'modelbay server'")
    import uvicorn

    from modelbay.server.app import create_app, log_config, prepare_to_serve
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
        if migrate is not None:
            settings = settings.with_(migrate=migrate)
        settings = settings.with_(url=None, api_key=None)
        if allow_private_destinations:
            settings = settings.with_(allow_private_destinations=True)
        admin_key = os.environ.get("MODELBAY_ADMIN_KEY") or None
        sock = _listen(host, port)
        port = sock.getsockname()[1]
        if settings.public_url is None:
            shown = "127.0.0.1" if host in ("0.0.0.0", "::") else host
            settings = settings.with_(public_url=f"http://{shown}:{port}")
        if demo:
            from modelbay.demo import seed

            if seed(settings):
                typer.echo(
                    "modelbay: logged the demo project 'models_quickstart' and model 'MNIST'"
                )
        from modelbay.settings import private_dir

        if private_dir(settings.data_dir):
            typer.echo(
                f"modelbay: warning: {settings.data_dir} is readable by other OS users; its "
                f"permissions are the boundary of this server's data (chmod 700 it)",
                err=True,
            )
        services = Services.open(settings)
        typer.echo(
            f"modelbay: data in {settings.data_dir}, database {_safe_url(settings.database_url)}"
        )

        def config(target: Any, **more: Any) -> uvicorn.Config:
            return uvicorn.Config(
                target,
                host=host,
                port=port,
                http=http_protocol(),
                access_log=access_log,
                log_config=log_config(access_log, json_logs),
                log_level=None,
                timeout_graceful_shutdown=shutdown_timeout,
                **more,
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
            from modelbay.server.drain import CloseWhenDraining, DrainingServer

            gate = CloseWhenDraining(app_)
            one = DrainingServer(config(gate), gate)
            with contextlib.suppress(KeyboardInterrupt):
                one.run(sockets=[sock])
            if not one.started:
                raise typer.Exit(3)
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
        os.environ["MODELBAY_MIGRATE"] = "0"  # done above, once: workers only check
        if settings.allow_private_destinations:
            os.environ["MODELBAY_ALLOW_PRIVATE_DESTINATIONS"] = "1"
        if settings.public_url:
            os.environ["MODELBAY_PUBLIC_URL"] = settings.public_url
        typer.echo(f"modelbay: serving on http://{host}:{port} with {workers} workers")
        # The workers' counters, gathered by whichever worker a scrape of /metrics reaches.
        metrics_dir = tempfile.mkdtemp(prefix="modelbay-metrics-")
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = metrics_dir
        from uvicorn.supervisors import Multiprocess

        workers_config = config("modelbay.server.app:app_from_env", factory=True, workers=workers)
        try:
            with contextlib.suppress(KeyboardInterrupt):
                Multiprocess(workers_config, sockets=[sock]).run()
        finally:
            shutil.rmtree(metrics_dir, ignore_errors=True)


def http_protocol() -> Any:
    """uvicorn's httptools protocol sending each answer in one write and handing
    upload bodies straight to their writers (server/protocol.py); uvicorn's own
    choice where httptools is not installed."""
    try:
        from modelbay.server.protocol import BodySinkHttpTools
    except ImportError:
        return "auto"
    return BodySinkHttpTools


def _listen(host: str, port: int) -> socket.socket:
    """The server's socket, bound before anything is created or printed: with the port
    taken, the command fails with one line, not after printing an admin key and a sign-in
    link that lead to whatever holds the port. Bound as uvicorn binds (SO_REUSEADDR)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        typer.echo(f"error: cannot listen on {host}:{port}: {exc.strerror or exc}", err=True)
        raise typer.Exit(1) from None
    sock.set_inheritable(True)
    return sock


def _safe_url(url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)


def main() -> None:
    app(prog_name="modelbay")  # also under ``python -m modelbay``
