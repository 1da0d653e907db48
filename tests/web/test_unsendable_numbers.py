"""Numbers ThousandEyes could never send get one answer on every database: a 400 that
names the field, and nothing stored.

``1e999`` decodes to infinity: SQLite kept it (and Slack was shown "inf") while
PostgreSQL refused it with "a value in the payload cannot be stored", naming nothing.
"""

from __future__ import annotations

import json

import pytest
from sqlalchemy import func, select

from bot.db.models import AlertRow, EventRow, JobRow
from tests.support.payloads import load_custom, load_sample
from tests.web.test_webhook import post

TOO_BIG_FOR_AN_ID = "123456789012345678901234567890"  # past 64 bits


def trigger_text(old: str, new: str) -> str:
    """The sample trigger as text with one number written as a sender might write it."""
    text = json.dumps(load_sample("trigger"))
    assert old in text
    return text.replace(old, new, 1)


def stored(database) -> tuple[int, int, int]:
    with database.session() as session:
        return tuple(session.scalar(select(func.count()).select_from(model))
                     for model in (EventRow, AlertRow, JobRow))


@pytest.mark.parametrize(("body", "field"), [
    (trigger_text('"violationCount": 2', '"violationCount": 1e999'), "'alert.violationCount'"),
    (trigger_text('"violationCount": 2', '"violationCount": -1e999'), "'alert.violationCount'"),
    (trigger_text('"violationCount": 2', '"violationCount": NaN'), "'alert.violationCount'"),
    (trigger_text('"testId": 5370', '"testId": Infinity'), "'alert.testId'"),
    (trigger_text('"agentId": 107', '"agentId": 1e999'), "'alert.agents[1].agentId'"),
    (trigger_text('"alertId": 35541', f'"alertId": {TOO_BIG_FOR_AN_ID}'), "'alert.alertId'"),
    (trigger_text('"alertId": 35541', '"alertId": 1e300'), "'alert.alertId'"),
    (trigger_text('"ruleId": 173', f'"ruleId": -{TOO_BIG_FOR_AN_ID}'), "'alert.ruleId'"),
    (trigger_text('"agentId": 108', f'"agentId": {TOO_BIG_FOR_AN_ID}'),
     "'alert.agents[0].agentId'"),
    (trigger_text('"eventId": "49-35541"', f'"eventId": {TOO_BIG_FOR_AN_ID}'), "'eventId'"),
])
def test_a_number_no_sender_sends_is_a_400_naming_its_field(live_server, database, body, field):
    response = post(live_server, body.encode())
    assert response.status_code == 400, response.text
    message = response.json()["message"]
    assert field in message, message
    assert stored(database) == (0, 0, 0)


def test_a_custom_webhook_is_answered_with_its_own_field_names(live_server, database):
    body = load_custom("template_trigger")
    body["alert"]["rule"]["id"] = int(TOO_BIG_FOR_AN_ID)
    response = post(live_server, body)
    assert response.status_code == 400
    assert "'alert.rule.id'" in response.json()["message"]
    body["alert"]["rule"]["id"] = "562949955720954"
    body["alert"]["details"][0]["source"]["latency"] = float("inf")
    text = json.dumps(body, allow_nan=True)
    response = post(live_server, text.encode())
    assert response.status_code == 400
    assert "'alert.details[0].source.latency'" in response.json()["message"]
    assert stored(database) == (0, 0, 0)


def test_the_largest_64_bit_ids_and_big_numbers_elsewhere_are_accepted(live_server, database):
    """ThousandEyes' ids are 64-bit (562949955720954 and the like); a big count or date
    that is no id is read as unknown rather than refusing the alert."""
    largest = str(2 ** 63 - 1)
    body = trigger_text('"alertId": 35541', f'"alertId": {largest}')
    body = body.replace('"violationCount": 2', f'"violationCount": {TOO_BIG_FOR_AN_ID}')
    response = post(live_server, body.encode())
    assert response.status_code == 200, response.text
    with database.session() as session:
        [alert] = session.scalars(select(AlertRow)).all()
    assert alert.alert_key == largest
