"""Alembic environment: runs on the connection handed over by ``Database.migrate``."""

from alembic import context

from modelbay.store.schema import metadata

connection = context.config.attributes.get("connection")
if connection is None:  # pragma: no cover - only for `alembic revision --autogenerate`
    from sqlalchemy import create_engine

    connection = create_engine(str(context.config.get_main_option("sqlalchemy.url"))).connect()

context.configure(connection=connection, target_metadata=metadata, render_as_batch=True)
with context.begin_transaction():
    context.run_migrations()
