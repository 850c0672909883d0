"""keycache: a credential generation row bumped by every revoke (processes keep keys until
it moves), and team members' roles (team admins manage a team)

Revision ID: 0023
Revises: 0022
"""

import sqlalchemy as sa
from alembic import op

revision = "0023"
down_revision = "0022"
branch_labels = None
depends_on = None


def upgrade() -> None:
    generation = op.create_table(
        "credential_generation",
        sa.Column("id", sa.Integer, nullable=False),
        sa.Column("generation", sa.BigInteger, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_credential_generation"),
    )
    op.bulk_insert(generation, [{"id": 1, "generation": 0}])
    op.add_column(
        "team_members",
        sa.Column("role", sa.String(16), nullable=False, server_default="member"),
    )


def downgrade() -> None:
    with op.batch_alter_table("team_members") as batch_op:
        batch_op.drop_column("role")
    op.drop_table("credential_generation")
