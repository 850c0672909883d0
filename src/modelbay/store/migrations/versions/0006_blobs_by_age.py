"""blobs are walked by age: garbage collection pages through them in (stored_at, sha256) order

Revision ID: 0006
Revises: 0005
"""

from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_blobs_stored_at_sha256", "blobs", ["stored_at", "sha256"])


def downgrade() -> None:
    op.drop_index("ix_blobs_stored_at_sha256", table_name="blobs")
