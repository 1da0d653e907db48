"""Storm roll-ups: one parent message for many alerts of a channel, and who is in it.

At most one storm per delivery lane is open at a time: ``open_lane`` is unique and NULL
once the storm is over, so two workers opening a storm at once cannot both succeed.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-02
"""
import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "storms",
        sa.Column("id", _ID, autoincrement=True, nullable=False),
        sa.Column("lane", sa.String(length=150), nullable=False),
        sa.Column("open_lane", sa.String(length=150), nullable=True),
        sa.Column("anchor_alert_id", _ID, nullable=False),
        sa.Column("opened_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_joined_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("slack_channel", sa.String(length=100), nullable=True),
        sa.Column("slack_ts", sa.String(length=32), nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("rendered_version", sa.Integer(), nullable=False),
        sa.Column("pages", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("open_lane", name="uq_storms_open_lane"),
    )
    with op.batch_alter_table("alerts") as batch:
        batch.add_column(sa.Column("storm_id", _ID, nullable=True))
        batch.create_foreign_key("fk_alerts_storm_id", "storms", ["storm_id"], ["id"])
        batch.create_index("ix_alerts_storm_id", ["storm_id"])


def downgrade() -> None:
    with op.batch_alter_table("alerts") as batch:
        batch.drop_index("ix_alerts_storm_id")
        batch.drop_constraint("fk_alerts_storm_id", type_="foreignkey")
        batch.drop_column("storm_id")
    op.drop_table("storms")
