"""RETENTION: a lease so that one process prunes at a time, and the indexes pruning needs.

``maintenance_leases`` holds one row per periodic task that every process runs but only
one should run per interval (``bot.store.pruning`` takes the "retention" row).

``ix_outbox_jobs_event``: deleting an event makes the database look for jobs that still
point at it (the foreign key), and pruning looks for them itself; without an index both
read the whole job table for every event deleted.

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-07
"""
import sqlalchemy as sa
from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "maintenance_leases",
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("due_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("held_by", sa.String(length=150), nullable=True),
        sa.PrimaryKeyConstraint("name"),
    )
    op.create_index("ix_outbox_jobs_event", "outbox_jobs", ["event_pk"])


def downgrade() -> None:
    op.drop_index("ix_outbox_jobs_event", table_name="outbox_jobs")
    op.drop_table("maintenance_leases")
