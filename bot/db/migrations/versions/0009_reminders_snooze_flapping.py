"""Noise control: what an alert is about, and the earlier alert it threads under.

``subject_key`` names the rule and the test (or agent, device) an alert is about, so
ingest finds the previous alert of the same rule on the same test (FLAP_WINDOW);
``thread_alert_id``/``thread_reason`` record that a new alert threads under that one's
parent. ``snoozes`` holds the rules snoozed on a test from a parent's overflow menu.
Reminders need no schema: they are outbox jobs of a new kind.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-02
"""
import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    with op.batch_alter_table("alerts") as batch:
        batch.add_column(sa.Column("subject_key", sa.String(300), nullable=True))
        batch.add_column(sa.Column("thread_alert_id", _ID, nullable=True))
        batch.add_column(sa.Column("thread_reason", sa.String(16), nullable=True))
        batch.create_foreign_key("fk_alerts_thread_alert", "alerts",
                                 ["thread_alert_id"], ["id"])
    op.create_index("ix_alerts_subject", "alerts", ["route", "channel", "subject_key", "id"])
    op.create_index("ix_alerts_thread", "alerts", ["thread_alert_id"])
    op.create_table(
        "snoozes",
        sa.Column("id", _ID, primary_key=True, autoincrement=True),
        sa.Column("route", sa.String(64), nullable=False),
        sa.Column("channel", sa.String(100), nullable=False),
        sa.Column("subject_key", sa.String(300), nullable=False),
        sa.Column("alert_id", _ID, sa.ForeignKey("alerts.id"), nullable=False),
        sa.Column("rule_name", sa.String(500), nullable=False),
        sa.Column("title", sa.String(500), nullable=False),
        sa.Column("slack_team", sa.String(32), nullable=True),
        sa.Column("slack_channel", sa.String(100), nullable=False),
        sa.Column("until", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.String(32), nullable=False),
        sa.Column("created_by_name", sa.String(200), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("cancelled_at", sa.DateTime(timezone=True), nullable=True),
    )
    op.create_index("ix_snoozes_subject", "snoozes", ["route", "channel", "subject_key", "until"])


def downgrade() -> None:
    op.drop_index("ix_snoozes_subject", table_name="snoozes")
    op.drop_table("snoozes")
    op.drop_index("ix_alerts_thread", table_name="alerts")
    op.drop_index("ix_alerts_subject", table_name="alerts")
    with op.batch_alter_table("alerts") as batch:
        batch.drop_constraint("fk_alerts_thread_alert", type_="foreignkey")
        batch.drop_column("thread_reason")
        batch.drop_column("thread_alert_id")
        batch.drop_column("subject_key")
