"""Prometheus metrics: what an operator graphs and alerts on (`GET /metrics`).

Theory of operation
-------------------
Counters and histograms are recorded where things happen (a text handled, a message
sent, a code checked, a face compared) through the small functions below. Every label
is a small closed set (an outcome, a channel, a route template): never a phone number,
code, name, sid or anything a customer typed, so the number of series stays bounded
whatever the traffic. A value outside its set is counted as `other`.

`smsbank serve --workers N` is N processes. prometheus_client's multiprocess mode
keeps each process's values in a memory-mapped file under `PROMETHEUS_MULTIPROC_DIR`
and a scrape adds them all up, so whichever worker answers reports the whole server.
The variable must be set before prometheus_client is first imported in a process:
`smsbank serve` sets it (`smsbank.cli.metrics_dir_for_workers`) before it starts the
workers. A process without it (the test suite, which builds many apps in one process;
one-shot commands) keeps its values in memory and reports its own.

What the database knows is read from it at scrape time, not counted: the outbox's
depth and the age of its oldest unsent message are the database's truth, the same
whichever worker (or host) is asked.

Recording costs a dictionary look-up and one or two writes to a memory-mapped file.
The series are made when this module is imported, so each is scraped from zero and
the hot path does not create them; a webhook route's latency series is made by that
route's first request.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from datetime import datetime

from prometheus_client import (
    REGISTRY,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
    values,
)
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector

CONTENT_TYPE = CONTENT_TYPE_PLAIN_0_0_4
OTHER = "other"

# -- inbound texts --------------------------------------------------------------------

# What `smsbank.sms.inbound.Handled` says became of a text, as operators name it.
INBOUND_OUTCOMES = {
    "processed": "command",
    "throttled": "throttled",
    "unregistered": "stranger",
    "opted_out": "opted_out",
    "duplicate": "duplicate",
}
_inbound = Counter(
    "smsbank_inbound_texts",
    "Inbound texts by what became of them: a command acted on, throttled (a flood from one "
    "number), from a stranger (not a customer), from an opted-out customer, a duplicate "
    "MessageSid.",
    ["outcome"],
)
_inbound_by_handled = {handled: _inbound.labels(name) for handled, name in INBOUND_OUTCOMES.items()}
_inbound_other = _inbound.labels(OTHER)


def count_inbound_text(handled: str) -> None:
    """One inbound text handled; `handled` is a `smsbank.sms.inbound.Handled` value."""
    _inbound_by_handled.get(handled, _inbound_other).inc()


# -- outbound messages ----------------------------------------------------------------

CHANNELS = ("sms", "voice")
SEND_FAILURES = ("retry", "failed")
_sent = Counter(
    "smsbank_outbox_sent",
    "Messages and calls the provider accepted, by channel.",
    ["channel"],
)
_send_failures = Counter(
    "smsbank_outbox_send_failures",
    "Sends the provider did not take, by channel: `retry` (will be tried again) or "
    "`failed` (given up: a permanent error or the attempts ran out).",
    ["channel", "outcome"],
)
_sent_by_channel = {channel: _sent.labels(channel) for channel in (*CHANNELS, OTHER)}
_failures_by = {
    (channel, outcome): _send_failures.labels(channel, outcome)
    for channel in (*CHANNELS, OTHER)
    for outcome in SEND_FAILURES
}


def count_sent(channel: str, count: int = 1) -> None:
    """`count` messages of `channel` (a `MessageChannel` value) taken by the provider."""
    if count:
        _sent_by_channel.get(channel, _sent_by_channel[OTHER]).inc(count)


def count_send_failure(channel: str, outcome: str) -> None:
    """A send that failed; `outcome` is `retry` or `failed` (the worker's counters)."""
    key = (channel if channel in CHANNELS else OTHER, outcome)
    _failures_by[key if key in _failures_by else (key[0], "failed")].inc()


# Twilio's message and call statuses (`smsbank.outbox.status.PROVIDER_STATUSES`); anything
# else a callback claims is `other`.
PROVIDER_STATUSES = (
    "accepted",
    "scheduled",
    "queued",
    "sending",
    "sent",
    "delivered",
    "read",
    "undelivered",
    "failed",
    "canceled",
    "initiated",
    "ringing",
    "in-progress",
    "answered",
    "completed",
    "busy",
    "no-answer",
)
_callbacks = Counter(
    "smsbank_status_callbacks",
    "Delivery reports (signed status callbacks) by the status the provider reported.",
    ["status"],
)
_callbacks_by_status = {status: _callbacks.labels(status) for status in (*PROVIDER_STATUSES, OTHER)}


def count_status_callback(status: str) -> None:
    """A signed status callback reporting `status` (as Twilio spells it)."""
    _callbacks_by_status.get(status.strip().lower(), _callbacks_by_status[OTHER]).inc()


# -- codes --------------------------------------------------------------------------

CODE_PURPOSES = ("withdrawal", "phone_change")
CODE_CHECK_RESULTS = ("ok", "wrong", "expired", "no_code")
_codes_issued = Counter(
    "smsbank_codes_issued", "One-time codes issued, by what they approve.", ["purpose"]
)
_code_checks = Counter(
    "smsbank_code_checks",
    "One-time codes presented, by result: `ok`, `wrong` (a wrong try), `expired`, "
    "`no_code` (nothing was waiting).",
    ["result"],
)
_issued_by_purpose = {p: _codes_issued.labels(p) for p in (*CODE_PURPOSES, OTHER)}
_checks_by_result = {r: _code_checks.labels(r) for r in (*CODE_CHECK_RESULTS, OTHER)}


def count_code_issued(purpose: str) -> None:
    _issued_by_purpose.get(purpose, _issued_by_purpose[OTHER]).inc()


def count_code_check(result: str) -> None:
    _checks_by_result.get(result, _checks_by_result[OTHER]).inc()


# -- faces and liveness ---------------------------------------------------------------

# Upload to answer: a selfie's decode, detection and embedding, and its wait for a face
# process. Buckets around the ~0.2 s a phone photo takes, up to a busy pool.
FACE_BUCKETS = (0.05, 0.1, 0.2, 0.3, 0.5, 0.75, 1.0, 2.0, 5.0, 10.0, 30.0)
FACE_PURPOSES = ("withdrawal", "phone_change", "enrolment", "staff_check")
FACE_RESULTS = ("match", "no_match")
FACE_ANALYSIS_OUTCOMES = ("ok", "rejected", "unavailable")
_face_checks = Counter(
    "smsbank_face_checks",
    "Faces compared with the enrolled one, by purpose and result (`match`, `no_match`).",
    ["purpose", "result"],
)
_face_seconds = Histogram(
    "smsbank_face_analysis_seconds",
    "Time to analyse one photo (wait for a face process included), by outcome: `ok`, "
    "`rejected` (no usable face, a bad image), `unavailable` (busy or restarting).",
    ["outcome"],
    buckets=FACE_BUCKETS,
)
_face_checks_by = {
    (purpose, result): _face_checks.labels(purpose, result)
    for purpose in (*FACE_PURPOSES, OTHER)
    for result in FACE_RESULTS
}
_face_seconds_by = {o: _face_seconds.labels(o) for o in FACE_ANALYSIS_OUTCOMES}


def count_face_check(purpose: str, verified: bool) -> None:
    """A face compared with the enrolled one (`faces.checks.record_check`)."""
    key = (purpose if purpose in FACE_PURPOSES else OTHER, "match" if verified else "no_match")
    _face_checks_by[key].inc()


def observe_face_analysis(outcome: str, seconds: float) -> None:
    """One photo through the face engine; `outcome` is one of FACE_ANALYSIS_OUTCOMES."""
    _face_seconds_by.get(outcome, _face_seconds_by["unavailable"]).observe(seconds)


# The reasons of SPEC §9a a liveness decision gives, and `passed`.
LIVENESS_RESULTS = (
    "passed",
    "liveness",
    "no_match",
    "no_face",
    "several_faces",
    "not_same_person",
    "expired",
    "too_few_frames",
)
_liveness = Counter(
    "smsbank_liveness_decisions",
    "Liveness challenges decided, by result: `passed`, or the reason it failed.",
    ["result"],
)
_liveness_seconds = Histogram(
    "smsbank_liveness_decision_seconds",
    "Time to decide one liveness challenge (all its frames).",
    buckets=FACE_BUCKETS,
)
_liveness_by_result = {r: _liveness.labels(r) for r in (*LIVENESS_RESULTS, OTHER)}


def record_liveness_decision(result: str, seconds: float) -> None:
    """A liveness challenge decided: `result` is `passed` or the failure's reason."""
    _liveness_by_result.get(result, _liveness_by_result[OTHER]).inc()
    _liveness_seconds.observe(seconds)


# -- webhooks ---------------------------------------------------------------------------

# Twilio gives a webhook 15 s; an SMS webhook normally answers in milliseconds.
WEBHOOK_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 15.0)
_webhook_seconds = Histogram(
    "smsbank_webhook_request_seconds",
    "Twilio webhook requests, received to answered, by route (the route's template, "
    "never the path a client sent).",
    ["route"],
    buckets=WEBHOOK_BUCKETS,
)
_webhook_by_route: dict[str, Histogram] = {}


def observe_webhook(route: str, seconds: float) -> None:
    """A webhook answered; `route` is a route template of the app (bounded)."""
    child = _webhook_by_route.get(route)
    if child is None:
        child = _webhook_by_route[route] = _webhook_seconds.labels(route)
    child.observe(seconds)


# -- exposition ----------------------------------------------------------------------


def is_multiprocess() -> bool:
    """Whether this process records into PROMETHEUS_MULTIPROC_DIR (decided at import)."""
    return values.ValueClass is not values.MutexValue


class _Snapshot(Collector):
    """Families computed before the scrape (the database's figures)."""

    def __init__(self, families: Iterable[Metric]) -> None:
        self._families = list(families)

    def collect(self) -> Iterator[Metric]:
        return iter(self._families)


def outbox_families(
    depth: dict[str, int] | None, oldest: datetime | None, now: datetime
) -> list[Metric]:
    """The outbox as the database sees it; `depth` None: the database did not answer."""
    up = GaugeMetricFamily(
        "smsbank_database_up", "1 if the database answered this scrape's queries, else 0."
    )
    up.add_metric([], 0 if depth is None else 1)
    if depth is None:
        return [up]
    messages = GaugeMetricFamily(
        "smsbank_outbox_depth",
        "Messages and calls waiting to be sent: `queued` (due or waiting for a retry) and "
        "`sending` (claimed by a worker).",
        labels=["status"],
    )
    for status in ("queued", "sending"):
        messages.add_metric([status], depth.get(status, 0))
    age = GaugeMetricFamily(
        "smsbank_outbox_oldest_queued_age_seconds",
        "Age of the oldest message not sent yet (queued or sending); 0 when none waits.",
    )
    age.add_metric([], max((now - oldest).total_seconds(), 0.0) if oldest else 0.0)
    return [up, messages, age]


def exposition(database: list[Metric]) -> bytes:
    """The text format of every metric: this server's counters (all its workers') and
    `database`, the families read from the database for this scrape."""
    if is_multiprocess():
        registry = CollectorRegistry()
        # prometheus_client ships no annotations for this collector.
        MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        recorded = generate_latest(registry)
    else:
        recorded = generate_latest(REGISTRY)
    snapshot = CollectorRegistry(auto_describe=False)
    snapshot.register(_Snapshot(database))
    return recorded + generate_latest(snapshot)
