"""Group commit: webhooks waiting together are stored in one transaction, each answered
only after its own batch committed, and a batch's failure reaches only its requests.

The batches are built on purpose: ``GroupCommitter.held()`` keeps any request from
starting one while the test's requests arrive, so "these requests were one batch" is
true every run, not only when the machine's timing allows it. Everything else is real:
HTTP to the app, the database of the ``database_url`` fixture (SQLite or PostgreSQL).
"""

from __future__ import annotations

import json
import threading
from typing import Any

import pytest
import requests
from sqlalchemy import func, select
from sqlalchemy.engine import make_url

from bot.db.models import AlertRow, DeliveryLaneRow, EventRow, JobRow
from bot.web.services import services
from tests.conftest import WEBHOOK_TOKEN
from tests.faults.test_database_unavailable import PostgresOutage, SqliteOutage
from tests.support.payloads import numbered_alert_event
from tests.support.waiting import wait_for

AUTH = {"Authorization": f"Bearer {WEBHOOK_TOKEN}"}


def _trigger(number: int, tag: str = "gc") -> dict[str, Any]:
    return numbered_alert_event("trigger", number, tag, f"group commit {number}")


def _post_all(url: str, bodies: list[tuple[str, dict[str, Any]]]) -> list[requests.Response]:
    """Post every (path, payload) from its own thread; the answers in the same order."""
    answers: list[requests.Response | None] = [None] * len(bodies)

    def post(index: int, path: str, payload: dict[str, Any]) -> None:
        answers[index] = requests.post(url + path, data=json.dumps(payload), headers=AUTH,
                                       timeout=60)

    threads = [threading.Thread(target=post, args=(i, path, payload), daemon=True)
               for i, (path, payload) in enumerate(bodies)]
    for thread in threads:
        thread.start()
    return _joined(threads, answers)


def _joined(threads: list[threading.Thread], answers: list) -> list[requests.Response]:
    for thread in threads:
        thread.join(90)
    assert all(answer is not None for answer in answers), "a request got no answer"
    return answers  # type: ignore[return-value]


def _one_batch(app, url: str, bodies: list[tuple[str, dict[str, Any]]]) -> list[requests.Response]:
    """Post all of them while the committer is held, then let them go as one batch."""
    committer = services(app).group_commit
    assert committer is not None, "group commit is on by default"
    answers: list[requests.Response] = []
    with committer.held():
        sender = threading.Thread(target=lambda: answers.extend(_post_all(url, bodies)),
                                  daemon=True)
        sender.start()
        wait_for(lambda: committer.waiting == len(bodies), 60, "every request queued")
        batches_before = committer.batches
    sender.join(90)
    assert len(answers) == len(bodies)
    assert committer.batches - batches_before == 1, "they were one batch"
    return answers


def _stored_event_ids(database) -> list[str]:
    with database.session() as session:
        return sorted(session.scalars(select(EventRow.event_id)))


def _counts(database) -> tuple[int, int, int]:
    with database.session() as session:
        return tuple(session.scalar(select(func.count()).select_from(model))  # type: ignore[return-value]
                     for model in (EventRow, AlertRow, JobRow))


def test_many_concurrent_webhooks_are_all_accepted_and_stored_once(app, live_server, database):
    events = [_trigger(number) for number in range(160)]
    answers: list[requests.Response] = []
    lock = threading.Lock()

    def sender(part: list[dict[str, Any]]) -> None:
        with requests.Session() as session:
            for payload in part:
                response = session.post(live_server.url + "/webhooks/thousandeyes",
                                        data=json.dumps(payload), headers=AUTH, timeout=60)
                with lock:
                    answers.append(response)

    threads = [threading.Thread(target=sender, args=(events[i::16],), daemon=True)
               for i in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert [a.status_code for a in answers] == [200] * 160
    assert {a.json()["status"] for a in answers} == {"accepted"}
    assert _stored_event_ids(database) == sorted(e["eventId"] for e in events)
    assert _counts(database) == (160, 160, 160)
    # Sixteen senders at once cannot all have found no batch being written.
    assert services(app).group_commit.batches < 160


def test_a_batch_is_one_transaction_answered_after_its_commit(app, live_server, database):
    bodies = [("/webhooks/thousandeyes", _trigger(number)) for number in range(12)]
    answers = _one_batch(app, live_server.url, bodies)
    assert [a.status_code for a in answers] == [200] * 12
    assert [a.json()["status"] for a in answers] == ["accepted"] * 12
    # Answered only after the commit: every accepted event is readable by anyone now.
    assert _counts(database) == (12, 12, 12)
    # The batch's lane is marked ready from its earliest job, so a claim finds them all.
    with database.session() as session:
        lanes = session.execute(select(DeliveryLaneRow.lane, DeliveryLaneRow.ready_at)).all()
        earliest = session.scalar(select(func.min(JobRow.next_attempt_at)))
    assert [ready_at for _, ready_at in lanes] == [earliest]


def test_an_event_id_repeated_in_one_batch_is_stored_once(app, live_server, database):
    repeated = _trigger(1, "dup")
    bodies = [("/webhooks/thousandeyes", repeated)] * 5 + [
        ("/webhooks/thousandeyes", _trigger(number, "dup")) for number in range(2, 6)]
    answers = _one_batch(app, live_server.url, bodies)
    assert [a.status_code for a in answers] == [200] * 9
    statuses = [a.json()["status"] for a in answers]
    assert statuses[:5].count("accepted") == 1 and statuses[:5].count("duplicate") == 4
    assert statuses[5:] == ["accepted"] * 4
    assert _counts(database) == (5, 5, 5)
    # And against the database: the same event in a later batch is a duplicate too.
    again = _one_batch(app, live_server.url, [("/webhooks/thousandeyes", repeated)] * 2)
    assert [a.json()["status"] for a in again] == ["duplicate", "duplicate"]
    assert _counts(database) == (5, 5, 5)


def test_two_events_of_one_alert_in_one_batch_apply_in_order(app, live_server, database):
    trigger = _trigger(7, "order")
    clear = numbered_alert_event("clear", 7, "order", "group commit 7")
    answers = _one_batch(app, live_server.url, [("/webhooks/thousandeyes", trigger)])
    answers += _one_batch(app, live_server.url, [("/webhooks/thousandeyes", clear),
                                                 ("/webhooks/thousandeyes", _trigger(8, "order"))])
    assert [a.json()["status"] for a in answers] == ["accepted"] * 3
    with database.session() as session:
        states = dict(session.execute(select(AlertRow.alert_key, AlertRow.state)).all())
    assert states == {"order-7": "cleared", "order-8": "triggered"}


def test_one_item_the_database_refuses_fails_only_itself(app, live_server, database):
    bad = _trigger(99, "bad")
    good = [_trigger(number, "good") for number in range(8)]
    _install_channel_fault(database, "C0REFUSED")
    bodies = [("/webhooks/thousandeyes?channel=C0REFUSED", bad)] + [
        ("/webhooks/thousandeyes", payload) for payload in good]
    answers = _one_batch(app, live_server.url, bodies)
    assert answers[0].status_code == 503
    assert [a.status_code for a in answers[1:]] == [200] * 8
    assert _stored_event_ids(database) == sorted(p["eventId"] for p in good)
    assert _counts(database) == (8, 8, 8)


def _install_channel_fault(database, channel: str) -> None:
    """Job inserts for ``channel`` fail (a trigger), every other insert works."""
    with database.engine.begin() as connection:
        if database.is_sqlite:
            connection.exec_driver_sql(
                "CREATE TRIGGER channel_fault BEFORE INSERT ON outbox_jobs"
                f" WHEN NEW.channel = '{channel}'"
                " BEGIN SELECT RAISE(ABORT, 'injected fault'); END")
        else:
            connection.exec_driver_sql(
                "CREATE FUNCTION channel_fault() RETURNS trigger AS $$ BEGIN"
                f" IF NEW.channel = '{channel}' THEN RAISE EXCEPTION 'injected fault'; END IF;"
                " RETURN NEW; END $$ LANGUAGE plpgsql")
            connection.exec_driver_sql(
                "CREATE TRIGGER channel_fault BEFORE INSERT ON outbox_jobs"
                " FOR EACH ROW EXECUTE FUNCTION channel_fault()")


@pytest.fixture
def outage(database_url):
    postgres = make_url(database_url).get_backend_name() == "postgresql"
    made = PostgresOutage(database_url) if postgres else SqliteOutage(database_url)
    yield made
    made.close()


def test_a_batch_meeting_an_unreachable_database_fails_only_its_own_requests(
    outage, tmp_path
):
    from bot.config import Config
    from bot.process.app import create_app
    from tests.support.servers import LiveServer

    app = create_app(Config(database_url=outage.app_url, webhook_token=WEBHOOK_TOKEN,
                            delivery_threads=0))
    database = services(app).database
    if isinstance(outage, SqliteOutage):
        outage.database = database
    try:
        with LiveServer(app) as server:
            before = [_trigger(number, "before") for number in range(6)]
            during = [_trigger(number, "during") for number in range(6)]
            after = [_trigger(number, "after") for number in range(6)]
            first = _one_batch(app, server.url, [("/webhooks/thousandeyes", p) for p in before])
            outage.start()
            try:
                failed = _one_batch(app, server.url,
                                    [("/webhooks/thousandeyes", p) for p in during])
            finally:
                outage.stop()
            last = _one_batch(app, server.url, [("/webhooks/thousandeyes", p) for p in after])
            assert [a.status_code for a in first] == [200] * 6
            assert [a.status_code for a in failed] == [503] * 6
            assert all(a.headers["Retry-After"] for a in failed)
            assert [a.status_code for a in last] == [200] * 6
            # Nothing acknowledged is lost, nothing refused is half-stored.
            stored = _stored_event_ids(database)
            assert stored == sorted(p["eventId"] for p in before + after)
            assert _counts(database) == (12, 12, 12)
    finally:
        database.dispose()



def test_a_request_whose_batch_does_not_start_in_time_gets_503_and_stores_nothing(
    app, live_server, database, monkeypatch
):
    committer = services(app).group_commit
    monkeypatch.setattr(committer, "_wait_timeout", 1.0)
    late = _trigger(1, "late")
    with committer.held():
        response = requests.post(live_server.url + "/webhooks/thousandeyes",
                                 data=json.dumps(late), headers=AUTH, timeout=60)
    assert response.status_code == 503 and response.headers["Retry-After"]
    assert _counts(database) == (0, 0, 0)
    # Nothing is left waiting or leading: ThousandEyes' retry is stored at once.
    retry = requests.post(live_server.url + "/webhooks/thousandeyes", data=json.dumps(late),
                          headers=AUTH, timeout=60)
    assert retry.status_code == 200 and retry.json()["status"] == "accepted"
    assert _counts(database) == (1, 1, 1)
