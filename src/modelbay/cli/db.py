"""``modelbay db``: the database's schema, brought up to date once and on purpose.

A shared (PostgreSQL) database is migrated by ``modelbay db upgrade`` before the new
version's servers start; a server facing a schema that is not its own refuses to serve.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from modelbay.cli.common import JsonFlag, fail_on_error, group, print_json

if TYPE_CHECKING:
    from modelbay.store.database import Database

db_app = group("The metadata database's schema.")

DbOption = Annotated[
    str | None,
    typer.Option(
        "--db",
        metavar="URL",
        help="Database URL, e.g. postgresql://user@host/db (default $MODELBAY_DB, else the "
        "data directory's SQLite file).",
    ),
]


def register(app: typer.Typer) -> None:
    app.add_typer(db_app, name="db")


def _database(db: str | None) -> Database:
    from modelbay.settings import Settings
    from modelbay.store.database import Database

    settings = Settings.from_env()
    if db is not None:
        settings = settings.with_(db_url=db)
    return Database(settings.database_url, migrate=False)


@db_app.command("status")
def status(db: DbOption = None, as_json: JsonFlag = False) -> None:
    """Show the schema's revision and the one needed.

    Exits 1 when they differ."""
    from modelbay.store.database import HEAD_REVISION

    with fail_on_error(as_json):
        database = _database(db)
        try:
            current = database.schema_revision()
        finally:
            database.engine.dispose()
    state = {"schema": current, "needed": HEAD_REVISION, "current": current == HEAD_REVISION}
    if as_json:
        print_json(state)
    else:
        typer.echo(f"schema {current or '(empty)'}, this modelbay needs {HEAD_REVISION}")
    if current != HEAD_REVISION:
        raise typer.Exit(1)


@db_app.command("upgrade")
def upgrade(db: DbOption = None, as_json: JsonFlag = False) -> None:
    """Bring the schema up to date, once per release."""
    from modelbay.store.database import HEAD_REVISION

    with fail_on_error(as_json):
        database = _database(db)
        try:
            before = database.schema_revision()
            if before is not None and before > HEAD_REVISION:
                database.check_schema()  # newer than this modelbay: says so
            database.migrate()
            after = database.schema_revision()
        finally:
            database.engine.dispose()
    if as_json:
        print_json({"before": before, "after": after})
    elif before == after:
        typer.echo(f"schema already at {after}")
    else:
        typer.echo(f"schema upgraded from {before or '(empty)'} to {after}")
