"""News first in a channel, and what a storm's messages show.

``outbox_jobs.priority``: within a delivery lane a claim takes news (a job that posts a
new parent: 0) before thread messages and the rest (1); the lane index gains the column
between the lane and the due time, so the claim still reads the index in order. Jobs
queued before the upgrade get the priority of their kind.

``storms.shown`` and ``alerts.parent_shown``: a fingerprint of what the roll-up and each
of its thread pages show, and of what an alert's parent shows, so a refresh updates only
the messages whose content changed.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-06
"""
import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

# The kinds bot.outbox.kinds marks as news, as they were when this was written.
_NEWS_KINDS = ("alert_trigger", "webhook_test", "unknown_event")


def upgrade() -> None:
    with op.batch_alter_table("outbox_jobs") as batch:
        batch.add_column(sa.Column("priority", sa.Integer(), nullable=False,
                                   server_default=sa.text("1")))
        batch.drop_index("ix_outbox_jobs_lane")
        batch.create_index("ix_outbox_jobs_lane",
                           ["status", "lane", "priority", "next_attempt_at", "id"])
    jobs = sa.table("outbox_jobs", sa.column("kind", sa.String), sa.column("status", sa.String),
                    sa.column("priority", sa.Integer))
    op.get_bind().execute(sa.update(jobs).where(jobs.c.kind.in_(_NEWS_KINDS),
                                                jobs.c.status.in_(("pending", "running")))
                          .values(priority=0))
    with op.batch_alter_table("storms") as batch:
        batch.add_column(sa.Column("shown", sa.JSON(), nullable=False,
                                   server_default=sa.text("'{}'")))
    with op.batch_alter_table("alerts") as batch:
        batch.add_column(sa.Column("parent_shown", sa.String(32), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("alerts") as batch:
        batch.drop_column("parent_shown")
    with op.batch_alter_table("storms") as batch:
        batch.drop_column("shown")
    with op.batch_alter_table("outbox_jobs") as batch:
        batch.drop_index("ix_outbox_jobs_lane")
        batch.create_index("ix_outbox_jobs_lane", ["status", "lane", "next_attempt_at", "id"])
        batch.drop_column("priority")
