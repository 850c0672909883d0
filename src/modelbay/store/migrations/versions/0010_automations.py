"""automations, their deliveries (the outbox) and every delivery attempt

Revision ID: 0010
Revises: 0009
"""

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "automations",
        sa.Column("id", Id, autoincrement=True, nullable=False),
        sa.Column("name", sa.String(128), nullable=False),
        sa.Column("scope_kind", sa.String(16), nullable=False),
        sa.Column("scope_id", Id, nullable=False),
        sa.Column("event_type", sa.String(64), nullable=False),
        sa.Column("alias_regex", sa.String(256), nullable=True),
        sa.Column("tag_regex", sa.String(256), nullable=True),
        sa.Column("metric", sa.String(256), nullable=True),
        sa.Column("metric_window", sa.Integer, nullable=True),
        sa.Column("metric_agg", sa.String(8), nullable=True),
        sa.Column("metric_op", sa.String(4), nullable=True),
        sa.Column("metric_value", sa.Float, nullable=True),
        sa.Column("action_kind", sa.String(16), nullable=False),
        sa.Column("action_config", sa.JSON, nullable=False),
        sa.Column("secrets", sa.JSON, nullable=False),
        sa.Column("enabled", sa.Boolean, nullable=False, server_default=sa.true()),
        sa.Column("disabled_reason", sa.Text, nullable=True),
        sa.Column("concurrency", sa.Integer, nullable=False, server_default="4"),
        sa.Column("created_by", Id, nullable=True),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.Column("updated_at", sa.Float, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_automations"),
        sa.UniqueConstraint("name", name="uq_automations_name"),
        sa.ForeignKeyConstraint(
            ["created_by"], ["users.id"], name="fk_automations_created_by_users"
        ),
    )
    op.create_index(
        "ix_automations_event_type_scope_kind_scope_id",
        "automations",
        ["event_type", "scope_kind", "scope_id"],
    )
    op.create_table(
        "deliveries",
        sa.Column("id", Id, autoincrement=True, nullable=False),
        sa.Column("automation_id", Id, nullable=False),
        sa.Column("event_id", Id, nullable=True),
        sa.Column("message_id", sa.String(64), nullable=False),
        sa.Column("action_kind", sa.String(16), nullable=False),
        sa.Column("queue", sa.String(128), nullable=True),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
        sa.Column("next_attempt_at", sa.Float, nullable=False),
        sa.Column("lease_until", sa.Float, nullable=True),
        sa.Column("leased_by", sa.String(128), nullable=True),
        sa.Column("payload", sa.JSON, nullable=True),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.Column("updated_at", sa.Float, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_deliveries"),
        sa.UniqueConstraint("message_id", name="uq_deliveries_message_id"),
        sa.ForeignKeyConstraint(
            ["automation_id"],
            ["automations.id"],
            ondelete="CASCADE",
            name="fk_deliveries_automation_id_automations",
        ),
    )
    op.create_index(
        "ix_deliveries_state_action_kind_next_attempt_at",
        "deliveries",
        ["state", "action_kind", "next_attempt_at"],
    )
    op.create_index(
        "ix_deliveries_queue_state_next_attempt_at",
        "deliveries",
        ["queue", "state", "next_attempt_at"],
    )
    op.create_index("ix_deliveries_automation_id_id", "deliveries", ["automation_id", "id"])
    op.create_table(
        "delivery_attempts",
        sa.Column("id", Id, autoincrement=True, nullable=False),
        sa.Column("delivery_id", Id, nullable=False),
        sa.Column("started_at", sa.Float, nullable=False),
        sa.Column("request", sa.JSON, nullable=True),
        sa.Column("status_code", sa.Integer, nullable=True),
        sa.Column("response_head", sa.Text, nullable=True),
        sa.Column("latency_ms", sa.Float, nullable=True),
        sa.Column("error", sa.Text, nullable=True),
        sa.Column("exit_code", sa.Integer, nullable=True),
        sa.Column("duration", sa.Float, nullable=True),
        sa.Column("output_tail", sa.Text, nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_delivery_attempts"),
        sa.ForeignKeyConstraint(
            ["delivery_id"],
            ["deliveries.id"],
            ondelete="CASCADE",
            name="fk_delivery_attempts_delivery_id_deliveries",
        ),
    )
    op.create_index(
        "ix_delivery_attempts_delivery_id_id", "delivery_attempts", ["delivery_id", "id"]
    )


def downgrade() -> None:
    op.drop_index("ix_delivery_attempts_delivery_id_id", table_name="delivery_attempts")
    op.drop_table("delivery_attempts")
    op.drop_index("ix_deliveries_automation_id_id", table_name="deliveries")
    op.drop_index("ix_deliveries_queue_state_next_attempt_at", table_name="deliveries")
    op.drop_index("ix_deliveries_state_action_kind_next_attempt_at", table_name="deliveries")
    op.drop_table("deliveries")
    op.drop_index("ix_automations_event_type_scope_kind_scope_id", table_name="automations")
    op.drop_table("automations")
