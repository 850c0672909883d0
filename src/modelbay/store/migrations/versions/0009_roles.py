"""registry and project roles: teams, memberships, protected aliases, promotion requests

Projects get a visibility and the user who created them; registries get how many
approvals a promotion request needs.

Revision ID: 0009
Revises: 0008
"""

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    with op.batch_alter_table("projects") as batch_op:
        batch_op.add_column(
            sa.Column("visibility", sa.String(16), nullable=False, server_default="organization")
        )
        batch_op.add_column(sa.Column("created_by", Id, nullable=True))
        batch_op.create_foreign_key("fk_projects_created_by_users", "users", ["created_by"], ["id"])
    with op.batch_alter_table("registries") as batch_op:
        batch_op.add_column(
            sa.Column("required_approvals", sa.Integer, nullable=False, server_default="1")
        )
    op.create_table(
        "teams",
        sa.Column("id", Id, autoincrement=True, nullable=False),
        sa.Column("name", sa.String(128), nullable=False),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_teams"),
        sa.UniqueConstraint("name", name="uq_teams_name"),
    )
    op.create_table(
        "team_members",
        sa.Column("team_id", Id, nullable=False),
        sa.Column("user_id", Id, nullable=False),
        sa.ForeignKeyConstraint(
            ["team_id"], ["teams.id"], ondelete="CASCADE", name="fk_team_members_team_id_teams"
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], ondelete="CASCADE", name="fk_team_members_user_id_users"
        ),
        sa.PrimaryKeyConstraint("team_id", "user_id", name="pk_team_members"),
    )
    op.create_index("ix_team_members_user_id", "team_members", ["user_id"])
    op.create_table(
        "memberships",
        sa.Column("id", Id, autoincrement=True, nullable=False),
        sa.Column("registry_id", Id, nullable=True),
        sa.Column("project_id", Id, nullable=True),
        sa.Column("user_id", Id, nullable=True),
        sa.Column("team_id", Id, nullable=True),
        sa.Column("role", sa.String(32), nullable=False),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_memberships"),
        sa.ForeignKeyConstraint(
            ["registry_id"],
            ["registries.id"],
            ondelete="CASCADE",
            name="fk_memberships_registry_id_registries",
        ),
        sa.ForeignKeyConstraint(
            ["project_id"],
            ["projects.id"],
            ondelete="CASCADE",
            name="fk_memberships_project_id_projects",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], ondelete="CASCADE", name="fk_memberships_user_id_users"
        ),
        sa.ForeignKeyConstraint(
            ["team_id"], ["teams.id"], ondelete="CASCADE", name="fk_memberships_team_id_teams"
        ),
        sa.UniqueConstraint("registry_id", "user_id", name="uq_memberships_registry_id_user_id"),
        sa.UniqueConstraint("registry_id", "team_id", name="uq_memberships_registry_id_team_id"),
        sa.UniqueConstraint("project_id", "user_id", name="uq_memberships_project_id_user_id"),
        sa.UniqueConstraint("project_id", "team_id", name="uq_memberships_project_id_team_id"),
        sa.CheckConstraint(
            "(registry_id IS NULL) <> (project_id IS NULL) "
            "AND (user_id IS NULL) <> (team_id IS NULL)",
            name="ck_memberships_one_target_one_member",
        ),
    )
    op.create_index("ix_memberships_user_id", "memberships", ["user_id"])
    op.create_index("ix_memberships_team_id", "memberships", ["team_id"])
    op.create_table(
        "protected_aliases",
        sa.Column("registry_id", Id, nullable=False),
        sa.Column("pattern", sa.String(128), nullable=False),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.ForeignKeyConstraint(
            ["registry_id"],
            ["registries.id"],
            ondelete="CASCADE",
            name="fk_protected_aliases_registry_id_registries",
        ),
        sa.PrimaryKeyConstraint("registry_id", "pattern", name="pk_protected_aliases"),
    )
    op.create_table(
        "promotion_requests",
        sa.Column("id", Id, autoincrement=True, nullable=False),
        sa.Column("registry_id", Id, nullable=False),
        sa.Column("collection_id", Id, nullable=False),
        sa.Column("link_id", Id, nullable=False),
        sa.Column("link_index", sa.Integer, nullable=False),
        sa.Column("alias", sa.String(128), nullable=False),
        sa.Column("holder_link_id", Id, nullable=True),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("user_id", Id, nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.Column("decided_at", sa.Float, nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_promotion_requests"),
        sa.ForeignKeyConstraint(
            ["registry_id"],
            ["registries.id"],
            ondelete="CASCADE",
            name="fk_promotion_requests_registry_id_registries",
        ),
        sa.ForeignKeyConstraint(
            ["collection_id"],
            ["collections.id"],
            ondelete="CASCADE",
            name="fk_promotion_requests_collection_id_collections",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name="fk_promotion_requests_user_id_users"
        ),
    )
    op.create_index(
        "ix_promotion_requests_registry_id_state_id",
        "promotion_requests",
        ["registry_id", "state", "id"],
    )
    op.create_index(
        "ix_promotion_requests_collection_id_alias_state",
        "promotion_requests",
        ["collection_id", "alias", "state"],
    )
    op.create_table(
        "promotion_reviews",
        sa.Column("request_id", Id, nullable=False),
        sa.Column("user_id", Id, nullable=False),
        sa.Column("decision", sa.String(16), nullable=False),
        sa.Column("comment", sa.Text, nullable=True),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.ForeignKeyConstraint(
            ["request_id"],
            ["promotion_requests.id"],
            ondelete="CASCADE",
            name="fk_promotion_reviews_request_id_promotion_requests",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name="fk_promotion_reviews_user_id_users"
        ),
        sa.PrimaryKeyConstraint("request_id", "user_id", name="pk_promotion_reviews"),
    )


def downgrade() -> None:
    op.drop_table("promotion_reviews")
    op.drop_index("ix_promotion_requests_registry_id_state_id", table_name="promotion_requests")
    op.drop_index(
        "ix_promotion_requests_collection_id_alias_state", table_name="promotion_requests"
    )
    op.drop_table("promotion_requests")
    op.drop_table("protected_aliases")
    op.drop_index("ix_memberships_team_id", table_name="memberships")
    op.drop_index("ix_memberships_user_id", table_name="memberships")
    op.drop_table("memberships")
    op.drop_index("ix_team_members_user_id", table_name="team_members")
    op.drop_table("team_members")
    op.drop_table("teams")
    with op.batch_alter_table("registries") as batch_op:
        batch_op.drop_column("required_approvals")
    with op.batch_alter_table("projects") as batch_op:
        batch_op.drop_constraint("fk_projects_created_by_users", type_="foreignkey")
        batch_op.drop_column("created_by")
        batch_op.drop_column("visibility")
