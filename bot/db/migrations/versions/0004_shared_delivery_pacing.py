"""Delivery lanes (pacing shared by every process), workspace circuits, job lanes.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-02
"""
import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

# Kinds that post (bot.outbox.kinds); their lane is the channel they post to.
_POSTING = ("webhook_test", "unknown_event", "alert_trigger", "alert_clear", "ack_note")


def upgrade() -> None:
    op.create_table(
        "delivery_lanes",
        sa.Column("lane", sa.String(length=150), nullable=False),
        sa.Column("team_id", sa.String(length=32), nullable=True),
        sa.Column("channel", sa.String(length=100), nullable=False),
        sa.Column("channel_id", sa.String(length=100), nullable=True),
        sa.Column("next_post_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ready_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("held_by", sa.String(length=150), nullable=True),
        sa.Column("held_until", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("lane"),
    )
    op.create_index("ix_delivery_lanes_ready", "delivery_lanes", ["ready_at"])
    op.create_table(
        "delivery_workspaces",
        sa.Column("team_key", sa.String(length=32), nullable=False),
        sa.Column("failing_since", sa.DateTime(timezone=True), nullable=True),
        sa.Column("probe_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("next_history_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("next_replies_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("team_key"),
    )
    with op.batch_alter_table("outbox_jobs") as batch:
        batch.add_column(sa.Column("lane", sa.String(length=150), nullable=False,
                                   server_default=""))
        batch.add_column(sa.Column("waiting_for", sa.String(length=16), nullable=True))
    with op.batch_alter_table("outbox_jobs") as batch:
        batch.alter_column("lane", server_default=None)
    op.create_index("ix_outbox_jobs_lane", "outbox_jobs",
                    ["status", "lane", "next_attempt_at", "id"])
    op.create_index("ix_outbox_jobs_waiting", "outbox_jobs", ["waiting_for", "team_id"])
    # Jobs queued before this revision: give them their lanes (bot.outbox.kinds.lane_of)
    # and make those lanes ready, so they are delivered after the upgrade.
    posting = ", ".join(f"'{kind}'" for kind in _POSTING)
    op.execute(
        "UPDATE outbox_jobs SET lane = COALESCE(team_id, '') || ':' || channel"
        f" WHERE kind IN ({posting})"
    )
    op.execute(
        "UPDATE outbox_jobs SET lane = COALESCE(team_id, '') || ':*updates'"
        f" WHERE kind NOT IN ({posting})"
    )
    op.execute(
        "INSERT INTO delivery_lanes (lane, team_id, channel, next_post_at, ready_at)"
        " SELECT lane, MIN(team_id), MIN(channel), MIN(created_at), MIN(next_attempt_at)"
        " FROM outbox_jobs WHERE status IN ('pending', 'running') GROUP BY lane"
    )


def downgrade() -> None:
    op.drop_index("ix_outbox_jobs_waiting", table_name="outbox_jobs")
    op.drop_index("ix_outbox_jobs_lane", table_name="outbox_jobs")
    with op.batch_alter_table("outbox_jobs") as batch:
        batch.drop_column("waiting_for")
        batch.drop_column("lane")
    op.drop_table("delivery_workspaces")
    op.drop_index("ix_delivery_lanes_ready", table_name="delivery_lanes")
    op.drop_table("delivery_lanes")
