"""`/thousandeyes status` without a scan: a partial index of open alerts by channel.

Only alerts still triggered are in it (cleared ones pile up forever and are never
listed), ordered as the command lists them, so the query reads its first rows from the
index and stops: its cost does not grow with the alerts the table has kept.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-02
"""
import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

_OPEN = sa.text("state = 'triggered'")


def upgrade() -> None:
    op.create_index("ix_alerts_open_by_channel", "alerts",
                    ["slack_channel", "first_seen_at", "id"],
                    sqlite_where=_OPEN, postgresql_where=_OPEN)


def downgrade() -> None:
    op.drop_index("ix_alerts_open_by_channel", table_name="alerts")
