"""Adoption: when a new alert threads under an earlier alert's parent instead of posting
its own. Decided here only, at ingest, in the ingest transaction, and recorded on the new
alert (``thread_alert_id``, ``thread_reason``).

Flapping (FLAP_WINDOW): a new alertId for the same rule on the same test (or agent,
device), on the same route and channel, triggering within the window after the previous
alert of that rule and test cleared. The new alert threads under the previous alert's
parent as "triggered again", and that parent shows the new alert from then on (so it
offers Acknowledge for it). The previous alert is the immediate one, not the first of
the chain: its jobs (its clear, its own adoption) are the ones the new alert's jobs must
wait for, and its ``slack_ts`` leads to the shared parent once its trigger ran.

Snoozed (bot.store.snoozes): while a snooze of the rule on the test runs, a new alert
threads under the last alert's parent whatever that alert's state, quietly (no
broadcast, no mention), and leaves the parent to that alert.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import bindparam, select, text

from bot.db.database import Database
from bot.db.models import AlertRow, AlertState, SnoozeRow
from bot.db.prepared import Prepared, RawTransaction
from bot.thousandeyes import AgentAlert, TestAlert

SUBJECT_KEY_LENGTH = 300


class AdoptionReason(enum.StrEnum):
    FLAPPING = "flapping"
    SNOOZED = "snoozed"


@dataclass(frozen=True)
class Adoption:
    thread_alert_id: int  # the alert whose parent the new alert threads under
    reason: AdoptionReason


def subject_key(alert: TestAlert | AgentAlert) -> str:
    """The rule and what it alerts on, by id where ThousandEyes sends one (names change)."""
    if isinstance(alert, TestAlert):
        rule, subject = alert.rule_id or alert.rule_name, f"test:{alert.test_id or alert.test_name}"
    else:
        where = f"/{alert.interface_name}" if alert.interface_name else ""
        rule = alert.agent_rule_id or alert.rule_name
        subject = f"{alert.subject}:{alert.agent_id or alert.agent_name}{where}"
    return f"rule:{rule}|{subject}"[:SUBJECT_KEY_LENGTH]


def _previous_alert_statement() -> Prepared:
    # Text, as ingest's other statements: a Core LIMIT would be a bound parameter.
    alerts = AlertRow.__table__
    columns = ("id", "state", "last_event_at")
    statement = text(
        "SELECT id, state, last_event_at FROM alerts WHERE route = :route"
        " AND channel = :channel AND subject_key = :subject_key ORDER BY id DESC LIMIT 1"
    ).bindparams(*(bindparam(column, type_=alerts.c[column].type)
                   for column in ("route", "channel", "subject_key")))
    return Prepared(statement, [(column, alerts.c[column].type) for column in columns])


_PREVIOUS_ALERT = _previous_alert_statement()


def _running_snooze_statement() -> Prepared:
    snoozes = SnoozeRow.__table__
    statement = text(
        "SELECT id FROM snoozes WHERE route = :route AND channel = :channel"
        " AND subject_key = :subject_key AND until > :now AND cancelled_at IS NULL LIMIT 1"
    ).bindparams(*(bindparam(column, type_=snoozes.c[column].type)
                   for column in ("route", "channel", "subject_key")),
                 bindparam("now", type_=snoozes.c.until.type))
    return Prepared(statement, [("id", snoozes.c.id.type)])


_RUNNING_SNOOZE = _running_snooze_statement()


def adoption_for_new_alert(
    transaction: RawTransaction, *, route: str, channel: str, subject: str, now: datetime,
    flap_window: timedelta | None,
) -> Adoption | None:
    """Whether a new alert's trigger threads under an earlier parent (None: its own).

    Called before the new alert's row is inserted, so the latest alert of the subject
    is an earlier one.
    """
    where = dict(route=route, channel=channel, subject_key=subject)
    previous = transaction.first(_PREVIOUS_ALERT, where)
    if previous is None:
        return None
    if transaction.first(_RUNNING_SNOOZE, dict(where, now=now)) is not None:
        return Adoption(previous.id, AdoptionReason.SNOOZED)
    if flap_window is None or previous.state != AlertState.CLEARED:
        return None
    # The clear's arrival by our clock (last_event_at), not ThousandEyes' dateEnd: an
    # account's dates may be in another zone, and arrival is what the channel saw.
    if now - previous.last_event_at > flap_window:
        return None
    return Adoption(previous.id, AdoptionReason.FLAPPING)


def thread_parent(db: Database, alert: AlertRow) -> tuple[str | None, str | None] | None:
    """Where the parent of the alert it threads under is (channel, ts), once known;
    None when it threads under no other alert.

    An earlier alert listed in a storm roll-up has the roll-up as its parent, which stands
    for many alerts and is never taken over by one: (None, None), so the new alert posts
    its own parent.
    """
    if alert.thread_alert_id is None:
        return None
    with db.session() as session:
        found = session.execute(
            select(AlertRow.slack_channel, AlertRow.slack_ts, AlertRow.storm_id)
            .where(AlertRow.id == alert.thread_alert_id)).first()
    if found is None or found.storm_id is not None:
        return None, None
    return found.slack_channel, found.slack_ts
