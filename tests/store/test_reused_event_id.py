"""An ``eventId`` is a duplicate only with the same body: a sender that reuses an id for
another event (a clear with its trigger's id) loses nothing, and is told in the log.

Same body means the same JSON: a retry whose keys come in another order or spacing is
still the same event.
"""

from __future__ import annotations

import json
import logging

from sqlalchemy import select

from bot.db.models import AlertRow, EventRow, JobKind, JobRow
from tests.store.test_group_commit import _one_batch
from tests.support.delivery import drain, send
from tests.support.payloads import load_sample, sample_event
from tests.web.test_webhook import post


def stored(database, model):
    with database.session() as session:
        return list(session.scalars(select(model).order_by(model.id)))


def clear_with_the_triggers_id() -> dict:
    return sample_event("clear", event_id=load_sample("trigger")["eventId"])


def test_the_same_body_again_is_a_duplicate_however_it_is_spaced(live_server, database):
    trigger = load_sample("trigger")
    assert post(live_server, trigger).json()["status"] == "accepted"
    respaced = json.dumps(dict(reversed(list(trigger.items()))), indent=4)
    again = post(live_server, respaced)
    assert again.status_code == 200 and again.json()["status"] == "duplicate"
    assert len(stored(database, EventRow)) == 1


def test_a_reused_id_with_another_body_is_stored_and_logged_as_the_senders_mistake(
        live_server, database, caplog):
    trigger = load_sample("trigger")
    assert post(live_server, trigger).json()["status"] == "accepted"
    changed = load_sample("trigger")
    changed["alert"]["violationCount"] = 3
    with caplog.at_level(logging.INFO, logger="bot.web.webhook"):
        answer = post(live_server, changed)
    assert answer.status_code == 200 and answer.json()["status"] == "accepted"
    events = stored(database, EventRow)
    assert [e.event_id for e in events] == ["49-35541", "49-35541"]
    assert [json.loads(e.payload)["alert"]["violationCount"] for e in events] == [2, 3]
    [warning] = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert "49-35541" in warning.getMessage() and "reused" in warning.getMessage()
    # Each body, retried, is its own duplicate.
    assert post(live_server, changed).json()["status"] == "duplicate"
    assert post(live_server, trigger).json()["status"] == "duplicate"
    assert len(stored(database, EventRow)) == 2


def test_a_clear_that_reuses_its_triggers_id_clears_the_alert(live_server, database):
    assert post(live_server, load_sample("trigger")).json()["status"] == "accepted"
    assert post(live_server, clear_with_the_triggers_id()).json()["status"] == "accepted"
    [alert] = stored(database, AlertRow)
    assert alert.state == "cleared"
    assert [j.kind for j in stored(database, JobRow)] == [JobKind.ALERT_TRIGGER,
                                                         JobKind.ALERT_CLEAR]


def test_slack_shows_the_clear_that_reused_the_id(slack_server, worker, fake_slack):
    send(slack_server, load_sample("trigger"))
    drain(worker)
    send(slack_server, clear_with_the_triggers_id())
    drain(worker)
    [parent] = fake_slack.top_level("C0ALERTS")
    [reply] = fake_slack.thread(parent)
    assert "Page Load: Complete" in json.dumps(reply.blocks)  # the clear's own metrics
    assert "cleared" in parent.text.lower() and parent.updates == 1


def test_one_batch_holding_both_bodies_stores_both(app, live_server, database):
    trigger = load_sample("trigger")
    answers = _one_batch(app, live_server.url, [("/webhooks/thousandeyes", trigger),
                                                ("/webhooks/thousandeyes", trigger),
                                                ("/webhooks/thousandeyes",
                                                 clear_with_the_triggers_id())])
    assert sorted(a.json()["status"] for a in answers) == ["accepted", "accepted", "duplicate"]
    # The threads' requests join the batch in whichever order they arrive.
    assert sorted(e.event_type for e in stored(database, EventRow)) == [
        "ALERT_NOTIFICATION_CLEAR", "ALERT_NOTIFICATION_TRIGGER"]
    [alert] = stored(database, AlertRow)
    assert alert.state == "cleared"  # a trigger dated before the clear never reopens it
