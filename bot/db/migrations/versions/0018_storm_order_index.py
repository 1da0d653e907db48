"""A storm's alerts in list order: ix_alerts_storm_order replaces ix_alerts_storm_id.

The roll-up lists a storm's alerts by (first_seen_at, id) and its thread pages hold
forty each; with the order in the index a page reads its own range of it, so posting or
refreshing one costs the same in a storm of a hundred alerts or of thousands. The old
index on storm_id alone is its prefix, so it goes.

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-07
"""
from alembic import op

revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_alerts_storm_order", "alerts", ["storm_id", "first_seen_at", "id"])
    op.drop_index("ix_alerts_storm_id", table_name="alerts")


def downgrade() -> None:
    op.create_index("ix_alerts_storm_id", "alerts", ["storm_id"])
    op.drop_index("ix_alerts_storm_order", table_name="alerts")
