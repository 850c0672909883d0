"""``modelbay sync``: upload runs logged offline, or whatever a run could not send before
its process ended (the server was away, or the process was killed)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from modelbay.cli.common import JsonFlag, fail_on_error, print_json, print_table
from modelbay.errors import ConflictError, InvalidInputError, ModelbayError


def register(app: typer.Typer) -> None:
    app.command("sync")(sync)


def sync(
    paths: Annotated[
        list[Path] | None,
        typer.Argument(
            help="Run directories (DIR/runs/<project>/<run id>) or folders holding them; "
            "default: every run under $MODELBAY_DIR/runs.",
            show_default=False,
        ),
    ] = None,
    as_json: JsonFlag = False,
) -> None:
    """Send what local run journals hold and the server lacks.

    These are the records the server has not confirmed yet.
    Safe to repeat: a run already sent is left alone, and a resent point replaces itself.
    A run whose process died before it finished is marked crashed.
    """
    from modelbay.sdk.transport import connect
    from modelbay.settings import Settings

    with fail_on_error(as_json):
        settings = Settings.from_env()
        roots = list(paths) if paths else [settings.data_dir / "runs"]
        run_dirs = find_run_dirs(roots)
        if not run_dirs and paths:
            raise InvalidInputError(
                f"no run journal (run.jsonl) under {', '.join(str(p) for p in roots)}"
            )
        transport = connect(settings)
        results = [sync_one(transport, d) for d in run_dirs]
    if as_json:
        print_json(results)
    elif not results:
        typer.echo("modelbay: no run journals to sync")
    else:
        print_table(
            ["run", "result", "values sent", "state", "directory"],
            (
                [r["run"], r["result"], r.get("values", 0), r.get("state") or "", r["dir"]]
                for r in results
            ),
        )
    if any(r["result"] == "failed" for r in results):
        raise typer.Exit(1)


def find_run_dirs(roots: list[Path]) -> list[Path]:
    """Every directory holding a ``run.jsonl`` at or under ``roots``, sorted.

    Raises:
        InvalidInputError: a given path does not exist.
    """
    from modelbay.sdk.spool import JOURNAL

    found: set[Path] = set()
    for root in roots:
        root = root.expanduser()
        if (root / JOURNAL).is_file():
            found.add(root.resolve())
        elif root.is_file() and root.name == JOURNAL:
            found.add(root.parent.resolve())
        elif root.is_dir():
            found.update(p.parent.resolve() for p in root.rglob(JOURNAL))
        elif root.exists() or len(roots) > 1 or root.name != "runs":
            raise InvalidInputError(f"{root} is not a run directory")
    return sorted(found)


def sync_one(transport: Any, run_dir: Path) -> dict[str, Any]:
    """Sync one run directory; failures are reported in the result, not raised."""
    from modelbay.sdk.journal_sync import sync_run
    from modelbay.sdk.spool import Journal

    base: dict[str, Any] = {"dir": str(run_dir), "run": run_dir.parent.name + "/" + run_dir.name}
    try:
        journal = Journal(run_dir)
    except ConflictError:
        return {**base, "result": "skipped: in use by a running process"}
    try:
        was_sent = journal.sent >= journal.size
        result = sync_run(transport, journal)
    except ModelbayError as exc:
        typer.echo(f"error: {base['run']}: {exc.message} [{exc.code}]", err=True)
        return {**base, "result": "failed", "error": exc.message}
    finally:
        journal.close()
    if result["created"]:
        outcome = "created and sent"
    elif was_sent and not result["records"]:
        outcome = "up to date"
    else:
        outcome = "sent"
    return {**base, **result, "result": outcome}
