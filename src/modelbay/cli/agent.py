"""``modelbay agent --queue NAME -- COMMAND...``: run an automation's jobs on this machine."""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from modelbay.cli.common import fail_on_error

if TYPE_CHECKING:
    from modelbay.settings import Settings


def register(app: typer.Typer) -> None:
    app.command(
        "agent",
        context_settings={"allow_interspersed_args": False},
    )(agent)


def agent(
    queue: Annotated[str, typer.Option(metavar="NAME", help="The job queue to take jobs from.")],
    command: Annotated[
        list[str],
        typer.Argument(
            metavar="-- COMMAND...",
            help="The command each job runs: the event as JSON on stdin, and as "
            "MODELBAY_EVENT_* variables.",
        ),
    ],
    data_dir: Annotated[
        Path | None,
        typer.Option(
            metavar="DIR",
            help="Work over this data directory (embedded), also delivering its pending "
            "webhooks; default: $MODELBAY_URL's server, else $MODELBAY_DIR.",
        ),
    ] = None,
    timeout: Annotated[
        float, typer.Option(min=1, metavar="SECONDS", help="Kill a job's command after this.")
    ] = 3600.0,
    lease: Annotated[
        float,
        typer.Option(
            min=3,
            max=3600,
            metavar="SECONDS",
            help="Lease length: a job whose agent died runs again this long after.",
        ),
    ] = 60.0,
    poll: Annotated[
        float, typer.Option(min=0.05, metavar="SECONDS", help="Wait between polls when idle.")
    ] = 1.0,
    once: Annotated[bool, typer.Option("--once", help="Run the jobs due now, then exit.")] = False,
    allow_private_destinations: Annotated[
        bool,
        typer.Option(
            "--allow-private-destinations",
            help="Over a data directory: let its webhooks go to loopback and private "
            "network addresses (as the server's flag of that name).",
        ),
    ] = False,
) -> None:
    """Run COMMAND for each job of QUEUE.

    Leases the queue's jobs one at a time and reports each one's exit code, duration and
    the tail of its output."""
    import sys

    from modelbay.sdk.agent import Agent
    from modelbay.sdk.transport import connect
    from modelbay.settings import Settings

    if not command:
        raise typer.BadParameter("give the command after --", param_hint="COMMAND")
    with fail_on_error():
        settings = Settings.from_env()
        if data_dir is not None:
            settings = settings.with_(data_dir=data_dir.expanduser().resolve(), url=None)
        if allow_private_destinations:
            settings = settings.with_(allow_private_destinations=True)
        transport = connect(settings)
        worker = Agent(
            transport, queue, command, timeout=timeout, lease_seconds=lease, echo=sys.stderr
        )
        stop = threading.Event()
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, lambda *_: stop.set())
        where = settings.url or f"data directory {settings.data_dir}"
        typer.echo(f"modelbay agent: queue {queue!r} on {where}", err=True)
        worker.run(
            poll=poll, once=once, stop=stop, idle=_idle_work(transport, settings, worker.log)
        )


def _idle_work(
    transport: object, settings: Settings, log: Callable[[str], None]
) -> Callable[[], object] | None:
    """Over a data directory, also deliver its pending webhooks and Slack messages: events
    logged in embedded mode are delivered even when no server ever runs over it."""
    services = getattr(transport, "services", None)
    if services is None:
        return None
    from modelbay.automations.dispatcher import run_once

    def deliver() -> None:
        try:
            while run_once(services.db, settings):
                pass
        except Exception as exc:  # noqa: BLE001 - the next round tries again
            log(f"modelbay agent: delivering webhooks: {type(exc).__name__}: {exc}")

    return deliver
