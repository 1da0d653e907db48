"""Signed Slack requests already handled, so that a replayed copy is not acted on twice.

Revision ID: 0014
Revises: 0010
Create Date: 2026-12-04
"""
import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "seen_slack_requests",
        sa.Column("signature", sa.String(length=64), nullable=False),
        sa.Column("request_timestamp", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("signature"),
    )
    op.create_index("ix_seen_slack_requests_request_timestamp", "seen_slack_requests",
                    ["request_timestamp"])


def downgrade() -> None:
    op.drop_index("ix_seen_slack_requests_request_timestamp", table_name="seen_slack_requests")
    op.drop_table("seen_slack_requests")
