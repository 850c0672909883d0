"""artifact TTL: when a version expires (W&B's ``artifact.ttl``), indexed for gc

Revision ID: 0024
Revises: 0023
"""

import sqlalchemy as sa
from alembic import op

revision = "0024"
down_revision = "0023"  # 0019 as assigned; after main's 0023 (keycache)
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("artifact_versions", sa.Column("expires_at", sa.Float, nullable=True))
    op.create_index("ix_artifact_versions_expires_at", "artifact_versions", ["expires_at"])


def downgrade() -> None:
    op.drop_index("ix_artifact_versions_expires_at", "artifact_versions")
    op.drop_column("artifact_versions", "expires_at")
