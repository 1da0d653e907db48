"""The Grafana dashboard and the alerting rules in docs/ are valid, parse as PromQL (with
Prometheus' own grammar, via promql-parser) and use only metrics ``/metrics`` exports; and
every metric the service exports has a panel."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import promql_parser
import pytest
import yaml

from bot.process.app import create_app
from bot.web.services import services
from tests.support.metrics import Scrape, scrape
from tests.support.servers import LiveServer

DOCS = Path(__file__).resolve().parents[2] / "docs"
DASHBOARD = DOCS / "grafana-dashboard.json"
RULES = DOCS / "prometheus-alerts.yml"
# Series prometheus_client adds beside each counter and histogram; nothing to chart.
_NOT_CHARTED = ("_created",)


def metric_names(expr: str) -> set[str]:
    """The metric names an expression selects, from its syntax tree."""
    names: set[str] = set()

    def walk(node: object) -> None:
        if isinstance(node, promql_parser.VectorSelector):
            names.add(node.name)
            return
        for attribute in ("args", "expr", "lhs", "rhs", "param", "vector_selector"):
            child = getattr(node, attribute, None)
            for item in child if isinstance(child, list) else [child]:
                if item is not None:
                    walk(item)

    walk(promql_parser.parse(expr))
    return names


def dashboard_exprs() -> Iterator[tuple[str, str]]:
    dashboard = json.loads(DASHBOARD.read_text())
    for panel in dashboard["panels"]:
        for target in panel.get("targets", []):
            yield panel["title"], target["expr"]


def rules() -> list[dict]:
    document = yaml.safe_load(RULES.read_text())
    return [rule for group in document["groups"] for rule in group["rules"]]


@pytest.fixture
def exposition(slack_config) -> Scrape:
    """What a live service exports (Socket Mode configured, so its gauge is there too)."""
    app = create_app(slack_config.with_overrides(slack_app_token="xapp-docs-test"))
    try:
        with LiveServer(app) as server:
            return scrape(server.url)
    finally:
        services(app).database.dispose()


@pytest.fixture
def exported(exposition: Scrape) -> set[str]:
    return exposition.names()


def test_the_dashboard_uses_only_exported_metrics_and_charts_them_all(exposition, exported):
    dashboard = json.loads(DASHBOARD.read_text())
    ids = [panel["id"] for panel in dashboard["panels"]]
    assert len(ids) == len(set(ids))
    assert dashboard["templating"]["list"][0]["type"] == "datasource"
    used: set[str] = set()
    for title, expr in dashboard_exprs():
        names = metric_names(expr)
        assert names, (title, expr)
        assert names <= exported, (title, names - exported)
        used |= names
    families = {name for name in exposition.families() if name.startswith("thousandeyes_")
                and not name.endswith(_NOT_CHARTED)}
    # Each family is charted through one of its series (a histogram by its buckets).
    uncharted = {name for name in families
                 if not any(series == name or series.startswith(name + "_") for series in used)}
    assert not uncharted, sorted(uncharted)


def test_the_alerting_rules_use_only_exported_metrics(exported):
    found = {rule["alert"]: rule for rule in rules()}
    for name in ("ThousandEyesDeliveryStuck", "ThousandEyesDeadJobs", "ThousandEyesSlackErrors"):
        assert name in found
    for rule in found.values():
        names = metric_names(rule["expr"])
        assert names and names <= exported, (rule["alert"], names - exported)
        assert rule["labels"]["severity"] in ("critical", "warning", "info")
        assert rule["annotations"]["summary"]
