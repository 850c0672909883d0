"""artifact TTL: when a version expires (W&B's ``artifact.ttl``), indexed for gc; deleted
artifacts (W&B's ``ArtifactCollection.delete``); and the drafts of distributed artifacts
(W&B's ``upsert_artifact`` / ``finish_artifact``)

Revision ID: 0024
Revises: 0023
"""

import sqlalchemy as sa
from alembic import op

Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")

revision = "0024"
down_revision = "0023"  # 0019 as assigned; after main's 0023 (keycache)
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("artifact_versions", sa.Column("expires_at", sa.Float, nullable=True))
    op.add_column("artifacts", sa.Column("deleted_at", sa.Float, nullable=True))
    op.create_index("ix_artifact_versions_expires_at", "artifact_versions", ["expires_at"])
    op.create_table(
        "distributed_drafts",
        sa.Column("id", Id, autoincrement=True, nullable=False),
        sa.Column("project_id", Id, nullable=False),
        sa.Column("name", sa.String(128), nullable=False),
        sa.Column("type", sa.String(128), nullable=False),
        sa.Column("distributed_id", sa.String(128), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.Column("version_id", Id, nullable=True),
        sa.ForeignKeyConstraint(
            ["project_id"], ["projects.id"], name="fk_distributed_drafts_project_id_projects"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_distributed_drafts"),
        sa.UniqueConstraint(
            "project_id",
            "name",
            "distributed_id",
            name="uq_distributed_drafts_project_id_name_distributed_id",
        ),
    )
    op.create_table(
        "distributed_files",
        sa.Column("draft_id", Id, nullable=False),
        sa.Column("path", sa.String(1024), nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("size", sa.BigInteger, nullable=False),
        sa.Column("ref", sa.String(2048)),
        sa.Column("etag", sa.String(256)),
        sa.ForeignKeyConstraint(
            ["draft_id"],
            ["distributed_drafts.id"],
            ondelete="CASCADE",
            name="fk_distributed_files_draft_id_distributed_drafts",
        ),
        sa.PrimaryKeyConstraint("draft_id", "path", name="pk_distributed_files"),
    )
    op.create_index("ix_distributed_files_sha256", "distributed_files", ["sha256"])


def downgrade() -> None:
    op.drop_table("distributed_files")
    op.drop_table("distributed_drafts")
    op.drop_index("ix_artifact_versions_expires_at", "artifact_versions")
    op.drop_column("artifact_versions", "expires_at")
    op.drop_column("artifacts", "deleted_at")
