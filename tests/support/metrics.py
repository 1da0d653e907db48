"""Reading ``GET /metrics`` the way Prometheus does: parsed text, samples by name and labels."""

from __future__ import annotations

from dataclasses import dataclass

import requests
from prometheus_client.parser import text_string_to_metric_families

_SUFFIXES = {"counter": ("_total",), "histogram": ("_bucket", "_count", "_sum"),
             "summary": ("_count", "_sum")}


@dataclass(frozen=True)
class Scrape:
    text: str

    def samples(self) -> list[tuple[str, dict[str, str], float]]:
        return [(s.name, dict(s.labels), s.value)
                for family in text_string_to_metric_families(self.text) for s in family.samples]

    def value(self, name: str, **labels: str) -> float:
        """The sum of the samples of ``name`` whose labels include ``labels`` (0: none)."""
        return sum(value for sample, found, value in self.samples()
                   if sample == name and all(found.get(k) == v for k, v in labels.items()))

    def families(self) -> set[str]:
        return {family.name for family in text_string_to_metric_families(self.text)}

    def names(self) -> set[str]:
        """Every series name a query may use, including families with no sample yet."""
        names: set[str] = set()
        for family in text_string_to_metric_families(self.text):
            names.add(family.name)
            names.update(family.name + suffix for suffix in _SUFFIXES.get(family.type, ()))
            names.update(sample.name for sample in family.samples)
        return names


def scrape(base_url: str, token: str | None = None) -> Scrape:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    response = requests.get(base_url + "/metrics", headers=headers, timeout=30)
    assert response.status_code == 200, (response.status_code, response.text[:300])
    assert response.headers["Content-Type"].startswith("text/plain")
    return Scrape(response.text)
