"""upload sessions may be opened before their digest is known

Revision ID: 0005
Revises: 0004
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("uploads") as batch_op:
        batch_op.alter_column("sha256", existing_type=sa.String(64), nullable=True)


def downgrade() -> None:
    op.execute("DELETE FROM uploads WHERE sha256 IS NULL")
    with op.batch_alter_table("uploads") as batch_op:
        batch_op.alter_column("sha256", existing_type=sa.String(64), nullable=False)
