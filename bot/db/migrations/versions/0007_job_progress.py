"""A job's progress in its own column, apart from its arguments.

The progress keys jobs kept in ``data`` (a post in flight, the ts of a reply or note
already posted) move to ``progress``, so jobs queued before the upgrade resume as before.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-02
"""
import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

_PROGRESS_KEYS = ("in_flight", "in_flight_since", "answer_lost", "reply_ts", "note_ts")


def upgrade() -> None:
    with op.batch_alter_table("outbox_jobs") as batch:
        batch.add_column(sa.Column("progress", sa.JSON(), nullable=True))
    jobs = sa.table("outbox_jobs", sa.column("id", sa.BigInteger), sa.column("status", sa.String),
                    sa.column("data", sa.JSON), sa.column("progress", sa.JSON))
    connection = op.get_bind()
    open_jobs = connection.execute(
        sa.select(jobs.c.id, jobs.c.data).where(jobs.c.status.in_(("pending", "running", "dead")))
    ).all()
    for job_id, data in open_jobs:
        data = dict(data or {})
        progress = {key: data.pop(key) for key in _PROGRESS_KEYS if key in data}
        if progress:
            connection.execute(sa.update(jobs).where(jobs.c.id == job_id)
                               .values(data=data, progress=progress))


def downgrade() -> None:
    with op.batch_alter_table("outbox_jobs") as batch:
        batch.drop_column("progress")
