"""runs: ``group`` as an indexed column (backfilled from the run's facts), indexes for a
project's listing by creation time and by job type; a GIN index over versions' metadata on
PostgreSQL

Revision ID: 0022
Revises: 0021
"""

import sqlalchemy as sa
from alembic import op

revision = "0022"
down_revision = "0021"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("runs", sa.Column("group", sa.String(128), nullable=True))
    bind = op.get_bind()
    if bind.dialect.name == "postgresql":
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
