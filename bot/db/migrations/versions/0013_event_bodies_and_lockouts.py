"""An eventId is a duplicate only with the same body; wrong webhook credentials are
counted like wrong administrator passwords.

A sender that reused an eventId for another event (a clear with its trigger's id) had
it dropped as a duplicate, leaving the alert open. The unique key now holds the hash of
the body's canonical JSON, so the same id with another body is stored as its own event.
Rows stored before get their hash here, computed as ``bot.store.ingest.body_digest``
computes it (frozen below, as a migration must be).

``auth_failures`` replaces ``oauth_consent_failures``: the same counts per client address,
now for each guarded secret (``scope``: the administrator password, the webhook's
credentials). The old rows are recent wrong passwords only; they are not carried over,
which costs at most a pending delay.

Revision ID: 0013
Revises: 0010
Create Date: 2026-12-06
"""
import hashlib
import json

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0011"
branch_labels = None
depends_on = None

_BATCH = 1000


def _digest(payload: str) -> str:
    canonical = json.dumps(json.loads(payload), sort_keys=True, separators=(",", ":"),
                           ensure_ascii=False)
    return hashlib.sha256(canonical.encode("utf-8", "surrogatepass")).hexdigest()


def _hash_stored_bodies() -> None:
    connection = op.get_bind()
    events = sa.table("events", sa.column("id", sa.BigInteger()), sa.column("payload", sa.Text()),
                      sa.column("body_hash", sa.String(64)))
    last = 0
    while True:
        rows = connection.execute(
            sa.select(events.c.id, events.c.payload).where(events.c.id > last)
            .order_by(events.c.id).limit(_BATCH)).all()
        if not rows:
            return
        connection.execute(
            events.update().where(events.c.id == sa.bindparam("event_id"))
            .values(body_hash=sa.bindparam("digest")),
            [{"event_id": row.id, "digest": _digest(row.payload)} for row in rows])
        last = rows[-1].id


def upgrade() -> None:
    op.create_table(
        "auth_failures",
        sa.Column("scope", sa.String(length=32), nullable=False),
        sa.Column("client_key", sa.String(length=64), nullable=False),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.Column("last_failure_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("locked_until", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("scope", "client_key"),
    )
    op.drop_table("oauth_consent_failures")
    with op.batch_alter_table("events") as batch:
        batch.add_column(sa.Column("body_hash", sa.String(length=64), nullable=True))
    _hash_stored_bodies()
    with op.batch_alter_table("events") as batch:
        batch.alter_column("body_hash", existing_type=sa.String(length=64), nullable=False)
        batch.drop_constraint("uq_events_route_event", type_="unique")
        batch.create_unique_constraint("uq_events_route_event_body",
                                       ["route", "channel", "event_id", "body_hash"])


def downgrade() -> None:
    # The older key allows one row per id: a reused id's later bodies keep their rows
    # (and the jobs that point at them) under an id of their own.
    op.execute(
        "UPDATE events SET event_id = substr(event_id, 1, 180) || '#' || id"
        " WHERE id IN (SELECT later.id FROM events later JOIN events earlier"
        " ON earlier.route = later.route AND earlier.channel = later.channel"
        " AND earlier.event_id = later.event_id AND earlier.id < later.id)")
    with op.batch_alter_table("events") as batch:
        batch.drop_constraint("uq_events_route_event_body", type_="unique")
        batch.create_unique_constraint("uq_events_route_event", ["route", "channel", "event_id"])
        batch.drop_column("body_hash")
    op.create_table(
        "oauth_consent_failures",
        sa.Column("client_key", sa.String(length=64), nullable=False),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.Column("last_failure_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("locked_until", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("client_key"),
    )
    op.drop_table("auth_failures")
