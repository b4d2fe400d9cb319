"""Reading `GET /metrics` as Prometheus does: through prometheus_client's own text
parser, into {(sample name, labels): value}, so tests compare figures, not strings."""

from __future__ import annotations

from typing import Any

from prometheus_client.parser import text_string_to_metric_families

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def parse(text: str) -> Samples:
    """Every sample of a scrape; the parser raises on anything not in the text format."""
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def value(samples: Samples, name: str, **labels: str) -> float:
    """One sample's value; 0 when the series is absent (a counter not yet made)."""
    return samples.get((name, frozenset(labels.items())), 0.0)


def delta(before: Samples, after: Samples, name: str, **labels: str) -> float:
    return value(after, name, **labels) - value(before, name, **labels)


async def scrape(client: Any, headers: dict[str, str]) -> Samples:
    """Scrape the app through its test client (the status must be 200)."""
    response = await client.get("/metrics", headers=headers)
    body = await response.get_data(as_text=True)
    assert response.status_code == 200, body
    assert response.content_type.startswith("text/plain")
    return parse(body)
