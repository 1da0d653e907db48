"""``/thousandeyes status`` reads the open-alerts index, never the whole alerts table.

Structural, not timed (the figures are in bench/status.py): the database's own plan for
the exact query the command runs must be a range of ix_alerts_open_by_channel, read in
the index's order (no sort), on SQLite and PostgreSQL alike.
"""

from __future__ import annotations

import json

from bot.clock import utcnow
from bot.config import Config
from bot.render import MessageRenderer
from bot.slack.command_input import CommandInput
from bot.slack.commands import command_response
from bot.slack.permissions import ManagePermissions
from bot.slack.workspaces import GatewayProvider
from bot.store.alerts import open_alerts_statement, record_parent
from bot.store.ingest import store_event
from bot.thousandeyes import parse_event
from tests.support.databases import query_plan
from tests.support.payloads import numbered_alert_event

CHANNEL = "C0ALERTS"
INDEX = "ix_alerts_open_by_channel"


def _plan(database, channel: str) -> str:
    # With the workspace's filter, as the command runs it.
    return query_plan(database, open_alerts_statement(channel, "T0FAKE", 21))


def _store(database, number: int, event: str = "trigger", channel: str = CHANNEL) -> None:
    payload = numbered_alert_event(event, number, "idx", f"test {number}")
    result = store_event(database, parse_event(payload), route="default", channel="",
                         body_text=json.dumps(payload), now=utcnow())
    if event == "trigger":
        record_parent(database, result.alert_pk, channel, f"1700000000.{number:06d}")


def test_status_query_is_a_range_of_the_open_alerts_index(database):
    for number in range(30):
        _store(database, number, channel=CHANNEL if number % 2 else "C0OTHER")
    plan = _plan(database, CHANNEL)
    assert INDEX in plan, plan
    # Read in the index's order: the first 21 rows are the answer, nothing is sorted.
    assert "TEMP B-TREE" not in plan.upper() and "Sort" not in plan, plan
    assert "SCAN alerts\n" not in plan + "\n" and "Seq Scan" not in plan, plan


def test_status_lists_only_the_channels_open_alerts_oldest_first(database):
    for number in range(6):
        _store(database, number, channel=CHANNEL if number < 4 else "C0OTHER")
    _store(database, 1, event="clear")  # cleared: leaves the index and the list
    config = Config()
    answer = command_response(database, config, MessageRenderer(),
                              CommandInput(text="status", channel_id=CHANNEL, team_id=None,
                                           user_id="U0ALICE"),
                              ManagePermissions(GatewayProvider(config)))
    listed = json.dumps(answer.blocks)
    assert [name for name in ("test 0", "test 1", "test 2", "test 3", "test 4")
            if name in listed] == ["test 0", "test 2", "test 3"]
    assert listed.index("test 0") < listed.index("test 2") < listed.index("test 3")
