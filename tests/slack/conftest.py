from __future__ import annotations

import pytest

from tests.support.workspaces import multi_workspace_server


@pytest.fixture
def multi(database_url, fake_slack):
    """(server, worker, app) of the service installed in two workspaces' worth of Slack."""
    with multi_workspace_server(database_url, fake_slack) as running:
        yield running
