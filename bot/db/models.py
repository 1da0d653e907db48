"""Tables: received events, one row per alert, outbox jobs, acknowledgements.

Events, the alert upsert and the delivery job are written in one transaction before the
webhook answers 200 (see ``bot.store.ingest``); the outbox worker then works only from
these rows.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

# The column types and the values columns take live in bot.db.types; they are imported
# from here too, so one import names a table and the values of its columns.
from bot.db.periodic import (
    MaintenanceLeaseRow as MaintenanceLeaseRow,
    ThousandEyesSyncRow as ThousandEyesSyncRow,
)
from bot.db.types import (
    OPEN_ALERT_CONDITION as OPEN_ALERT_CONDITION,
    AlertState as AlertState,
    ApiSync as ApiSync,
    Base as Base,
    Id as Id,
    JobKind as JobKind,
    JobStatus as JobStatus,
    UtcDateTime as UtcDateTime,
    WaitingFor as WaitingFor,
)


class EventRow(Base):
    __tablename__ = "events"
    # An eventId is a duplicate only with the same body (bot.store.ingest.body_digest):
    # a sender that reuses an id for another event loses nothing. The key's first three
    # columns find every body stored under one id.
    __table_args__ = (UniqueConstraint("route", "channel", "event_id", "body_hash",
                                       name="uq_events_route_event_body"),)

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    route: Mapped[str] = mapped_column(String(64))
    # The requested channel ('' = the route's default): the same event sent to two
    # channels is two deliveries, not a duplicate.
    channel: Mapped[str] = mapped_column(String(100), default="")
    event_id: Mapped[str] = mapped_column(String(200))
    event_type: Mapped[str] = mapped_column(String(100))
    received_at: Mapped[datetime]
    payload: Mapped[str] = mapped_column(Text)  # the body as received
    body_hash: Mapped[str] = mapped_column(String(64))  # SHA-256 of the body's JSON, canonical
    alert_id: Mapped[int | None] = mapped_column(Id, ForeignKey("alerts.id"), index=True)


class AlertRow(Base):
    __tablename__ = "alerts"
    __table_args__ = (
        UniqueConstraint("route", "channel", "kind", "alert_key", name="uq_alerts_key"),
        # The STALE_AFTER sweep: open alerts not yet marked, by their last event.
        Index("ix_alerts_stale_sweep", "state", "stale_at", "last_event_at"),
        # /thousandeyes status: a channel's open alerts, oldest first, read from the index
        # (migration 0008). Partial, so the cleared alerts the table keeps cost it nothing;
        # a query uses it only when it says ``state = 'triggered'`` as a literal.
        Index("ix_alerts_open_by_channel", "slack_channel", "first_seen_at", "id",
              sqlite_where=text(OPEN_ALERT_CONDITION),
              postgresql_where=text(OPEN_ALERT_CONDITION)),
        # Adoption (bot.store.adoption): the latest alert of a rule on a test or target.
        Index("ix_alerts_subject", "route", "channel", "subject_key", "id"),
        # Delivery: the alerts threading under an alert, whose jobs wait for its jobs.
        Index("ix_alerts_thread", "thread_alert_id"),
        # A storm's alerts in the order its roll-up lists them (migration 0018): a thread
        # page reads its range, whatever the storm's size (bot.store.storm_reads).
        Index("ix_alerts_storm_order", "storm_id", "first_seen_at", "id"),
    )

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    route: Mapped[str] = mapped_column(String(64))
    channel: Mapped[str] = mapped_column(String(100), default="")
    # The id family of alert_key (an AlertKind value): "test" for alertId, which every
    # ALERT_NOTIFICATION_* carries (alerts on tests, agents and devices alike), "agent"
    # for the agentNotificationId of AGENT_ALERT_NOTIFICATION_*. What the alert is about
    # is read from ``data`` (bot.thousandeyes.parse_stored_alert).
    kind: Mapped[str] = mapped_column(String(16))
    alert_key: Mapped[str] = mapped_column(String(200))
    state: Mapped[str] = mapped_column(String(16))  # AlertState value
    rule_name: Mapped[str] = mapped_column(String(500), default="")
    title: Mapped[str] = mapped_column(String(500), default="")  # test or agent name
    severity: Mapped[str | None] = mapped_column(String(32))
    permalink: Mapped[str] = mapped_column(String(2000), default="")
    # The latest alert object (the clear's once cleared): templates re-render from it.
    data: Mapped[dict[str, Any]]
    event_type: Mapped[str] = mapped_column(String(100))  # the latest event's type
    first_seen_at: Mapped[datetime]
    last_event_at: Mapped[datetime]
    triggered_at: Mapped[datetime | None]
    cleared_at: Mapped[datetime | None]
    trigger_count: Mapped[int] = mapped_column(Integer, default=0)
    first_acknowledged_at: Mapped[datetime | None]
    # Set by the STALE_AFTER sweep when an open alert had no event for that long; the
    # next event from ThousandEyes clears it.
    stale_at: Mapped[datetime | None]
    # Filled by delivery: where the parent message lives.
    slack_team: Mapped[str | None] = mapped_column(String(32))
    slack_channel: Mapped[str | None] = mapped_column(String(100))
    slack_ts: Mapped[str | None] = mapped_column(String(32))
    # A fingerprint of what the parent shows, as last posted or updated (None: not known):
    # a refresh that would send the same calls Slack for nothing.
    parent_shown: Mapped[str | None] = mapped_column(String(32))
    # What the alert is about, as adoption compares it: the rule and the test, agent or
    # device (bot.store.adoption.subject_key). None for alerts stored before 0009.
    subject_key: Mapped[str | None] = mapped_column(String(300))
    # Set at ingest when this alert threads under an earlier alert's parent instead of
    # posting its own: that alert, and why (an AdoptionReason value).
    thread_alert_id: Mapped[int | None] = mapped_column(Id, ForeignKey("alerts.id"))
    thread_reason: Mapped[str | None] = mapped_column(String(16))
    # The storm roll-up this alert is listed in (bot.store.storms); its parent is then
    # the roll-up's message, so every reply about it lands in the roll-up's thread.
    storm_id: Mapped[int | None] = mapped_column(Id, ForeignKey("storms.id"))
    # What the ThousandEyes API sync did (an ApiSync value; None: webhooks only): found the
    # alert no webhook brought, or confirmed the clear whose webhook never arrived.
    api_sync: Mapped[str | None] = mapped_column(String(16))


class SnoozeRow(Base):
    """A rule on a test (or agent, device) snoozed from a parent's overflow menu: until
    ``until``, its new alerts thread quietly under the last parent (bot.store.adoption)."""

    __tablename__ = "snoozes"
    __table_args__ = (Index("ix_snoozes_subject", "route", "channel", "subject_key", "until"),)

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    route: Mapped[str] = mapped_column(String(64))
    channel: Mapped[str] = mapped_column(String(100), default="")
    subject_key: Mapped[str] = mapped_column(String(300))
    # The alert it was snoozed from, and what it said (for `/thousandeyes snooze list`).
    alert_id: Mapped[int] = mapped_column(Id, ForeignKey("alerts.id"))
    rule_name: Mapped[str] = mapped_column(String(500), default="")
    title: Mapped[str] = mapped_column(String(500), default="")
    # Where the click came from: only that channel lists or cancels it.
    slack_team: Mapped[str | None] = mapped_column(String(32))
    slack_channel: Mapped[str] = mapped_column(String(100))
    until: Mapped[datetime]
    created_by: Mapped[str] = mapped_column(String(32))
    created_by_name: Mapped[str] = mapped_column(String(200), default="")
    created_at: Mapped[datetime]
    cancelled_at: Mapped[datetime | None]
    # Sent upstream (bot.store.snooze_upstream): the ThousandEyes alert suppression window
    # made for it, and where the snooze holds (SnoozeUpstream; NULL: in Slack only, the
    # API link being off or the alert having no test).
    te_window_id: Mapped[str | None] = mapped_column(String(64))
    te_state: Mapped[str | None] = mapped_column(String(16))
    te_detail: Mapped[str | None] = mapped_column(String(300))  # ThousandEyes' answer


class StormRow(Base):
    """One roll-up parent standing for many alerts of one channel (bot.store.storms).

    ``open_lane`` is the delivery lane while the storm takes new alerts and NULL once it
    is over: its unique constraint lets one storm per channel be open at a time, across
    every process, whoever tries to open it first.
    """

    __tablename__ = "storms"
    __table_args__ = (UniqueConstraint("open_lane", name="uq_storms_open_lane"),)

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    lane: Mapped[str] = mapped_column(String(150))
    open_lane: Mapped[str | None] = mapped_column(String(150))
    # The alert whose trigger job opened the storm: its jobs post and update the roll-up,
    # so the roll-up's Slack calls run in order like any alert's.
    anchor_alert_id: Mapped[int] = mapped_column(Id)
    opened_at: Mapped[datetime]
    # When the latest alert that joined it arrived: the storm ends once an alert arrives
    # more than STORM_QUIET after that.
    last_joined_at: Mapped[datetime]
    closed_at: Mapped[datetime | None]
    slack_channel: Mapped[str | None] = mapped_column(String(100))
    slack_ts: Mapped[str | None] = mapped_column(String(32))
    # Bumped by every alert that joins; the roll-up as posted showed ``rendered_version``.
    version: Mapped[int] = mapped_column(Integer, default=0)
    rendered_version: Mapped[int] = mapped_column(Integer, default=0)
    # The thread messages holding the full list when it is longer than the parent holds.
    pages: Mapped[list[str]] = mapped_column(JSON, default=list)
    # What each message of the storm shows now ("rollup", "page-0", …: a fingerprint of
    # its text and blocks), so a refresh updates only the messages whose content changed;
    # and what each page was rendered from ("page-0:source", …), so it renders only the
    # pages whose alerts changed.
    shown: Mapped[dict[str, str]] = mapped_column(JSON, default=dict)


class JobRow(Base):
    __tablename__ = "outbox_jobs"
    __table_args__ = (
        Index("ix_outbox_jobs_claim", "status", "next_attempt_at"),
        Index("ix_outbox_jobs_alert", "alert_id", "status"),
        # A claim looks at one lane's first due jobs, news first (``priority``), in the
        # index's order: its cost grows neither with the backlog of other lanes nor with
        # the thread notes waiting in its own (see bot.outbox.queue).
        Index("ix_outbox_jobs_lane", "status", "lane", "priority", "next_attempt_at", "id"),
        Index("ix_outbox_jobs_waiting", "waiting_for", "team_id"),
        # Pruning (bot.store.pruning): the jobs that point at an event being deleted.
        Index("ix_outbox_jobs_event", "event_pk"),
    )

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    alert_id: Mapped[int | None] = mapped_column(Id, ForeignKey("alerts.id"))
    event_pk: Mapped[int | None] = mapped_column(Id, ForeignKey("events.id"))
    kind: Mapped[str] = mapped_column(String(32))
    channel: Mapped[str] = mapped_column(String(100), default="")
    # The workspace whose bot token delivers this job (None: the single-workspace token).
    team_id: Mapped[str | None] = mapped_column(String(32))
    status: Mapped[str] = mapped_column(String(16), default=JobStatus.PENDING)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime]
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    locked_by: Mapped[str | None] = mapped_column(String(100))
    locked_until: Mapped[datetime | None]
    last_error: Mapped[str | None] = mapped_column(Text)
    # The job's arguments (who clicked, for an acknowledgement note).
    data: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    # What it has done so far (bot.outbox.progress.JobProgress), so a retried job
    # resumes instead of posting twice.
    progress: Mapped[dict[str, Any] | None] = mapped_column(JSON, default=dict)
    # The delivery lane (``DeliveryLaneRow.lane``) whose pacing this job obeys.
    lane: Mapped[str] = mapped_column(String(150), default="")
    # Claimed before every job of a higher number in its lane: 0 for news (a new parent),
    # 1 for the rest (bot.outbox.kinds.priority_of).
    priority: Mapped[int] = mapped_column(Integer, default=1)
    waiting_for: Mapped[str | None] = mapped_column(String(16))  # a WaitingFor value


class DeliveryLaneRow(Base):
    """Pacing shared by every delivery process: one row per channel a job posts to.

    ``next_post_at`` is when the next post may start (an in-flight post holds it in the
    future; a Retry-After pushes it out for every process); ``ready_at`` is when the lane
    may next have a claimable job (None: no pending job), so a claim looks only at lanes
    that can give it one.
    """

    __tablename__ = "delivery_lanes"
    __table_args__ = (Index("ix_delivery_lanes_ready", "ready_at"),)

    lane: Mapped[str] = mapped_column(String(150), primary_key=True)
    team_id: Mapped[str | None] = mapped_column(String(32))
    channel: Mapped[str] = mapped_column(String(100), default="")  # as the jobs name it
    # The id Slack answered with when a job of this lane posted (a name in, an id out).
    channel_id: Mapped[str | None] = mapped_column(String(100))
    next_post_at: Mapped[datetime]
    ready_at: Mapped[datetime | None]
    # The job whose post is in flight ("worker/job id") and how long its lease holds the
    # lane: no other post of the lane starts before that one's answer is back.
    held_by: Mapped[str | None] = mapped_column(String(150))
    held_until: Mapped[datetime | None]


class DeliveryWorkspaceRow(Base):
    """Per workspace: the circuit (is Slack failing?) and the budget of history reads."""

    __tablename__ = "delivery_workspaces"

    team_key: Mapped[str] = mapped_column(String(32), primary_key=True)  # '' = single token
    failing_since: Mapped[datetime | None]
    probe_at: Mapped[datetime | None]  # when the next job in backoff is tried early
    next_history_at: Mapped[datetime | None]  # conversations.history allowed from then
    next_replies_at: Mapped[datetime | None]  # conversations.replies allowed from then


class AcknowledgementRow(Base):
    __tablename__ = "acknowledgements"
    __table_args__ = (Index("ix_acknowledgements_alert", "alert_id", "user_id"),)

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    alert_id: Mapped[int] = mapped_column(Id, ForeignKey("alerts.id"))
    user_id: Mapped[str] = mapped_column(String(32))
    user_name: Mapped[str] = mapped_column(String(200), default="")
    team_id: Mapped[str | None] = mapped_column(String(32))
    acknowledged_at: Mapped[datetime]
    # Set when the user unacknowledges: history is kept, the row is not deleted.
    withdrawn_at: Mapped[datetime | None]


class RouteRow(Base):
    """A webhook URL bound to one Slack channel, created by ``/thousandeyes connect``."""

    __tablename__ = "routes"
    __table_args__ = (Index("ix_routes_team_channel", "team_id", "channel_id"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    team_id: Mapped[str | None] = mapped_column(String(32))
    channel_id: Mapped[str] = mapped_column(String(100))
    # SHA-256 of the route's Bearer token: the token itself is shown once, never stored.
    token_hash: Mapped[str] = mapped_column(String(64))
    mention: Mapped[str] = mapped_column(String(100), default="")  # "", "here", "subteam:S…"
    broadcast_clears: Mapped[bool] = mapped_column(Boolean, default=False)
    created_by: Mapped[str] = mapped_column(String(32))
    created_at: Mapped[datetime]
    disabled_at: Mapped[datetime | None]
    disabled_reason: Mapped[str | None] = mapped_column(String(200))


class OAuthClientRow(Base):
    """A ThousandEyes webhook registered as an OAuth client (``python -m bot oauth``)."""

    __tablename__ = "oauth_clients"

    client_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    client_secret_hash: Mapped[str | None] = mapped_column(String(64))  # None: public client
    redirect_uris: Mapped[list[str]] = mapped_column(JSON, default=list)
    grant_types: Mapped[list[str]] = mapped_column(JSON, default=list)
    created_at: Mapped[datetime]
    revoked_at: Mapped[datetime | None]


class OAuthCodeRow(Base):
    __tablename__ = "oauth_codes"

    code_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    client_id: Mapped[str] = mapped_column(String(64), ForeignKey("oauth_clients.client_id"))
    redirect_uri: Mapped[str] = mapped_column(String(2000), default="")
    scope: Mapped[str] = mapped_column(String(200), default="")
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime]


class OAuthTokenRow(Base):
    """An access token ThousandEyes presents as Bearer; only its SHA-256 is kept."""

    __tablename__ = "oauth_tokens"

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    client_id: Mapped[str] = mapped_column(String(64), ForeignKey("oauth_clients.client_id"))
    grant_type: Mapped[str] = mapped_column(String(40))
    scope: Mapped[str] = mapped_column(String(200), default="")
    issued_at: Mapped[datetime]
    expires_at: Mapped[datetime]
    revoked_at: Mapped[datetime | None]


class AuthFailureRow(Base):
    """Wrong guesses of a secret (``scope``: bot.store.lockout.Guarded) per client address
    (an IPv6 address counts by its /64), shared by every process."""

    __tablename__ = "auth_failures"

    scope: Mapped[str] = mapped_column(String(32), primary_key=True)
    client_key: Mapped[str] = mapped_column(String(64), primary_key=True)
    failures: Mapped[int] = mapped_column(Integer, default=0)
    last_failure_at: Mapped[datetime]
    locked_until: Mapped[datetime]


class ServiceSecretRow(Base):
    """Random keys every process of the service must share (e.g. the consent form's CSRF
    signing key); made once, on first use."""

    __tablename__ = "service_secrets"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[datetime]


class HealthCheckRow(Base):
    """The row ``/healthz`` writes, to tell a database that answers from one that also
    takes writes (a full disk, a read-only file or replica)."""

    __tablename__ = "health_checks"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    checked_at: Mapped[datetime]


class SlackRequestRow(Base):
    """A signed Slack request already handled, by its signature, so that a copy replayed
    within Slack's five minutes is not acted on again by any process (bot.store.replays).
    Kept only while its timestamp would still pass the signature check."""

    __tablename__ = "seen_slack_requests"

    # The hex digest of ``X-Slack-Signature``: an HMAC of the timestamp and the body.
    signature: Mapped[str] = mapped_column(String(64), primary_key=True)
    request_timestamp: Mapped[int] = mapped_column(BigInteger, index=True)
