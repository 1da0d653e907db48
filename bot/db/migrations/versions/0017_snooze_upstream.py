"""A snooze sent upstream: the ThousandEyes alert suppression window made for it.

``te_state`` says where the snooze holds: NULL when the API link is off or the alert has
no test (Slack only, as before), ``pending`` until ThousandEyes was asked, ``created``
with ``te_window_id``, ``failed`` with ThousandEyes' answer in ``te_detail``.

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-07
"""
import sqlalchemy as sa
from alembic import op

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("snoozes") as batch:
        batch.add_column(sa.Column("te_window_id", sa.String(64), nullable=True))
        batch.add_column(sa.Column("te_state", sa.String(16), nullable=True))
        batch.add_column(sa.Column("te_detail", sa.String(300), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("snoozes") as batch:
        batch.drop_column("te_detail")
        batch.drop_column("te_state")
        batch.drop_column("te_window_id")
