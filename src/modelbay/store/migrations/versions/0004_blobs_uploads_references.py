"""stored blobs and upload sessions as rows; files may be references

Revision ID: 0004
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "blobs",
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("stored_at", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("sha256", name=op.f("pk_blobs")),
    )
    op.create_table(
        "uploads",
        sa.Column("id", sa.String(32), nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("part_size", sa.BigInteger(), nullable=False),
        sa.Column("backend_id", sa.String(1024), nullable=True),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("user_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("created_at", sa.Float(), nullable=False),
        sa.Column("claimed_at", sa.Float(), nullable=True),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name=op.f("fk_uploads_user_id_users")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_uploads")),
    )
    op.create_index(op.f("ix_uploads_sha256_state"), "uploads", ["sha256", "state"])
    with op.batch_alter_table("files") as batch_op:
        batch_op.add_column(sa.Column("ref", sa.String(2048), nullable=True))
        batch_op.add_column(sa.Column("etag", sa.String(256), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("files") as batch_op:
        batch_op.drop_column("etag")
        batch_op.drop_column("ref")
    op.drop_index(op.f("ix_uploads_sha256_state"), table_name="uploads")
    op.drop_table("uploads")
    op.drop_table("blobs")
