"""runs: ``group`` as an indexed column (backfilled from the run's facts), indexes for a
project's listing by creation time and by job type; a GIN index over versions' metadata on
PostgreSQL. That index casts each version's metadata to ``jsonb``, which refuses a lone
UTF-16 surrogate escape (``"\\udcff"``) that ``json`` kept: rows stored before the edge
refused them are first rewritten, each lone surrogate as printable text (``\\xff`` for one
from ``os.fsdecode``), as the SDK now writes such strings.

Revision ID: 0022
Revises: 0021
"""

import json
import re
from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0022"
down_revision = "0021"
branch_labels = None
depends_on = None


#: A lone surrogate's escape in JSON text, as PostgreSQL's ``~*`` finds candidates (a
#: surrogate pair or an escaped backslash may match too; those rows are left as they are).
_SURROGATE = r"\\ud[89a-f][0-9a-f]{2}"


def _printable(value: Any) -> Any:
    """``value`` with every lone surrogate in its strings (keys too) as printable text."""
    if isinstance(value, str):
        if not re.search("[\ud800-\udfff]", value):
            return value
        try:  # os.fsdecode's undecodable bytes: "\udcff" -> "\\xff"
            return value.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
        except UnicodeEncodeError:
            return value.encode("utf-8", "backslashreplace").decode("utf-8")
    if isinstance(value, dict):
        return {_printable(k): _printable(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_printable(v) for v in value]
    return value


def _repair(bind: sa.Connection, table: str, column: str) -> None:
    """Rewrite the rows of ``table`` whose JSON ``column`` holds a lone surrogate."""
    rows = bind.execute(
        sa.text(f"SELECT id, {column}::text FROM {table} WHERE {column}::text ~* :pattern"),
        {"pattern": _SURROGATE},
    ).all()
    for row_id, text in rows:
        fixed = json.dumps(_printable(json.loads(text)), ensure_ascii=False)
        if fixed != text:
            bind.execute(
                sa.text(f"UPDATE {table} SET {column} = CAST(:v AS json) WHERE id = :id"),
                {"v": fixed, "id": row_id},
            )


def upgrade() -> None:
    op.add_column("runs", sa.Column("group", sa.String(128), nullable=True))
    bind = op.get_bind()
    if bind.dialect.name == "postgresql":
        _repair(bind, "runs", "system")
        _repair(bind, "artifact_versions", "metadata")
        op.execute(
            """UPDATE runs SET "group" = left(system->>'group', 128),
            system = (system::jsonb - 'group')::json
            WHERE json_typeof(system->'group') = 'string'"""
        )
        op.execute(
            "CREATE INDEX ix_artifact_versions_metadata_jsonb ON artifact_versions "
            "USING gin ((CAST(metadata AS JSONB)) jsonb_path_ops)"
        )
    else:
        op.execute(
            """UPDATE runs SET "group" = substr(json_extract(system, '$.group'), 1, 128),
            system = json_remove(system, '$.group')
            WHERE json_type(system, '$.group') = 'text'"""
        )
    op.create_index("ix_runs_project_id_created_at_id", "runs", ["project_id", "created_at", "id"])
    op.create_index("ix_runs_project_id_group", "runs", ["project_id", "group"])
    op.create_index("ix_runs_project_id_job_type", "runs", ["project_id", "job_type"])


def downgrade() -> None:
    op.drop_index("ix_runs_project_id_job_type", table_name="runs")
    op.drop_index("ix_runs_project_id_group", table_name="runs")
    op.drop_index("ix_runs_project_id_created_at_id", table_name="runs")
    bind = op.get_bind()
    if bind.dialect.name == "postgresql":
        op.execute("DROP INDEX ix_artifact_versions_metadata_jsonb")
        op.execute(
            """UPDATE runs SET system = (system::jsonb || jsonb_build_object('group', "group"))::json
            WHERE "group" IS NOT NULL"""
        )
    else:
        op.execute(
            """UPDATE runs SET system = json_set(system, '$.group', "group")
            WHERE "group" IS NOT NULL"""
        )
    with op.batch_alter_table("runs") as batch_op:
        batch_op.drop_column("group")
