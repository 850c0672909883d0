"""accounts: key expiry and revocation, service accounts, web sessions, sign-in links and
throttle in the database, audit log indexes

Revision ID: 0019
Revises: 0018
"""

import sqlalchemy as sa
from alembic import op

revision = "0019"
down_revision = "0018"
branch_labels = None
depends_on = None

Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.add_column("users", sa.Column("owner_team_id", Id, nullable=True))
    op.add_column("api_keys", sa.Column("expires_at", sa.Float, nullable=True))
    op.add_column("api_keys", sa.Column("revoked_at", sa.Float, nullable=True))
    op.create_index("ix_api_keys_user_id", "api_keys", ["user_id"])
    op.create_index("ix_events_actor_id", "events", ["actor", "id"])
    op.create_index("ix_events_action_id", "events", ["action", "id"])
    op.create_table(
        "web_sessions",
        sa.Column("id", sa.String(64), nullable=False),
        sa.Column("user_id", Id, nullable=False),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.Column("expires_at", sa.Float, nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], ondelete="CASCADE", name="fk_web_sessions_user_id_users"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_web_sessions"),
    )
    op.create_index("ix_web_sessions_user_id", "web_sessions", ["user_id"])
    op.create_index("ix_web_sessions_expires_at", "web_sessions", ["expires_at"])
    op.create_table(
        "login_links",
        sa.Column("token_hash", sa.String(64), nullable=False),
        sa.Column("user_id", Id, nullable=False),
        sa.Column("expires_at", sa.Float, nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], ondelete="CASCADE", name="fk_login_links_user_id_users"
        ),
        sa.PrimaryKeyConstraint("token_hash", name="pk_login_links"),
    )
    op.create_table(
        "sign_in_failures",
        sa.Column("key", sa.String(320), nullable=False),
        sa.Column("first_at", sa.Float, nullable=False),
        sa.Column("count", sa.Integer, nullable=False),
        sa.PrimaryKeyConstraint("key", name="pk_sign_in_failures"),
    )


def downgrade() -> None:
    op.drop_table("sign_in_failures")
    op.drop_table("login_links")
    op.drop_index("ix_web_sessions_expires_at", table_name="web_sessions")
    op.drop_index("ix_web_sessions_user_id", table_name="web_sessions")
    op.drop_table("web_sessions")
    op.drop_index("ix_events_action_id", table_name="events")
    op.drop_index("ix_events_actor_id", table_name="events")
    op.drop_index("ix_api_keys_user_id", table_name="api_keys")
    with op.batch_alter_table("api_keys") as batch_op:
        batch_op.drop_column("revoked_at")
        batch_op.drop_column("expires_at")
    with op.batch_alter_table("users") as batch_op:
        batch_op.drop_column("owner_team_id")
