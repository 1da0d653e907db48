"""STALE_AFTER: when an open alert was marked as having no news, and the sweep's index.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-02
"""
import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("alerts") as batch:
        batch.add_column(sa.Column("stale_at", sa.DateTime(timezone=True), nullable=True))
    op.create_index("ix_alerts_stale_sweep", "alerts", ["state", "stale_at", "last_event_at"])


def downgrade() -> None:
    op.drop_index("ix_alerts_stale_sweep", table_name="alerts")
    with op.batch_alter_table("alerts") as batch:
        batch.drop_column("stale_at")
