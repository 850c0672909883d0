"""runs keep a heartbeat: a running run silent past the run timeout is crashed

Revision ID: 0008
Revises: 0006
"""

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("runs", schema=None) as batch_op:
        batch_op.add_column(sa.Column("heartbeat_at", sa.Float(), nullable=True))
        batch_op.create_index(
            batch_op.f("ix_runs_state_heartbeat_at"), ["state", "heartbeat_at"], unique=False
        )
    # A run from before heartbeats last showed life when it was last updated.
    op.execute("UPDATE runs SET heartbeat_at = updated_at")


def downgrade() -> None:
    with op.batch_alter_table("runs", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_runs_state_heartbeat_at"))
        batch_op.drop_column("heartbeat_at")
