"""`GET /metrics`: who may read it, and that every figure counts what really happened,
read back through Prometheus's own text parser (tests/metrics_scrape.py).

The counters belong to the test process, which builds many apps: each test compares
a scrape before and after what it does. Several workers reporting one truth is
tests/test_metrics_workers.py (a real `smsbank serve --workers 2`).
"""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import pytest

from smsbank import metrics
from smsbank.clock import utcnow
from smsbank.models import Customer, OutboundMessage, OutboundStatus
from smsbank.outbox import enqueue_call, enqueue_sms
from smsbank.outbox.worker import deliver_due
from smsbank.settings import Settings
from smsbank.sms_backends import TwilioBackend
from tests.fake_twilio import FakeTwilio
from tests.metrics_scrape import delta, scrape, value
from tests.twilio_signing import TwilioSigner, new_sid
from tests.webhooks.handset import Handset, code_in

TOKEN = "scrape-only-token-0123456789abcdef"
STRANGER = "+15550199999"


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.with_overrides(metrics_token=TOKEN, inbound_rate_limit_per_minute=3)


@pytest.fixture
def scraper() -> dict[str, str]:
    return {"Authorization": f"Bearer {TOKEN}"}


async def enrolled(make_customer: Any, **kwargs: Any) -> Customer:
    customer = await make_customer(**kwargs)
    await Customer.filter(id=customer.id).update(face_embedding=b"enrolled", face_model="Dlib")
    return customer


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Bearer wrong-token"},
        {"Authorization": TOKEN},  # no scheme
        {"Authorization": f"Basic {TOKEN}"},
        {"Authorization": f"Bearer {TOKEN[:-1]}"},
    ],
)
async def test_metrics_are_never_public(client: Any, headers: dict[str, str]) -> None:
    response = await client.get("/metrics", headers=headers)
    assert response.status_code == 401
    assert (await response.get_json())["error"]["code"] == "unauthorized"


async def test_a_staff_key_and_the_scrape_token_read_them_and_the_token_opens_nothing_else(
    client: Any, staff: dict[str, str], scraper: dict[str, str]
) -> None:
    for headers in (staff, scraper):
        samples = await scrape(client, headers)
        assert value(samples, "smsbank_database_up") == 1
    assert (await client.get("/api/v1/customers", headers=scraper)).status_code == 401
    assert (await client.get("/api/v1/customers", headers=staff)).status_code == 200


async def test_metrics_are_not_a_route_of_the_staff_api_schema(client: Any) -> None:
    schema = await (await client.get("/openapi.json")).get_json()
    assert "/metrics" not in schema["paths"]


async def test_inbound_texts_are_counted_by_outcome_and_webhooks_by_route(
    client: Any, settings: Settings, scraper: dict[str, str], make_customer: Any
) -> None:
    ada = Handset(client, settings, (await make_customer(name="Ada Lovelace")).phone)
    flooder = Handset(client, settings, (await make_customer(name="Flo Oder")).phone)
    quitter = Handset(client, settings, (await make_customer(name="Quinn Itter")).phone)
    stranger = Handset(client, settings, STRANGER)
    before = await scrape(client, scraper)

    await ada.text("BAL")
    await ada.text("HELP")
    repeated = new_sid()
    await ada.text("ME", sid=repeated)
    await ada.text("ME", sid=repeated)  # Twilio delivering the same webhook again
    for _ in range(5):  # the limit is 3 a minute
        await flooder.text("BAL")
    await stranger.text("hello?")
    await quitter.text("STOP")
    await quitter.text("BAL")

    after = await scrape(client, scraper)
    counted = {
        outcome: delta(before, after, "smsbank_inbound_texts_total", outcome=outcome)
        for outcome in ("command", "duplicate", "throttled", "stranger", "opted_out", "other")
    }
    assert counted == {
        "command": 3 + 3 + 1,
        "duplicate": 1,
        "throttled": 2,
        "stranger": 1,
        "opted_out": 1,
        "other": 0,
    }
    route = "/webhooks/twilio/sms"
    assert delta(before, after, "smsbank_webhook_request_seconds_count", route=route) == 12
    assert delta(before, after, "smsbank_webhook_request_seconds_sum", route=route) > 0


async def test_webhook_latency_is_labelled_by_route_never_by_the_path_sent(
    client: Any, settings: Settings, scraper: dict[str, str]
) -> None:
    signer = TwilioSigner(settings)
    before = await scrape(client, scraper)
    form = {"MessageSid": new_sid(), "MessageStatus": "delivered"}
    for outbox_id in ("12345", "67890"):
        query = f"outbox_id={outbox_id}"
        response = await signer.post(client, "/webhooks/twilio/status", form, query=query)
        assert response.status_code == 200
    forged = await client.post("/webhooks/twilio/sms/+15550123456", data="x=1")
    assert forged.status_code == 404
    after = await scrape(client, scraper)
    status_route = "/webhooks/twilio/status"
    assert delta(before, after, "smsbank_webhook_request_seconds_count", route=status_route) == 2
    routes = {dict(labels)["route"] for name, labels in after if "route" in dict(labels)}
    assert routes <= {
        "/webhooks/twilio/sms",
        "/webhooks/twilio/voice",
        "/webhooks/twilio/voice/menu",
        "/webhooks/twilio/status",
    }
    # Reported by the status Twilio gave, even for a message the bank does not know.
    assert delta(before, after, "smsbank_status_callbacks_total", status="delivered") == 2


async def test_codes_issued_and_wrong_tries_are_counted_and_no_label_names_anyone(
    client: Any, settings: Settings, scraper: dict[str, str], make_customer: Any
) -> None:
    customer = await enrolled(make_customer, name="Grace Hopper", phone="+15550123477")
    phone = Handset(client, settings, customer.phone)
    before = await scrape(client, scraper)
    [code_text] = await phone.ask("W 20")
    code = code_in(code_text)
    wrong = f"{(int(code) + 1) % 1_000_000:06d}"
    await phone.ask(wrong)
    await phone.ask(code)
    after_response = await client.get("/metrics", headers=scraper)
    text = await after_response.get_data(as_text=True)
    after = await scrape(client, scraper)

    assert delta(before, after, "smsbank_codes_issued_total", purpose="withdrawal") == 1
    assert delta(before, after, "smsbank_code_checks_total", result="wrong") == 1
    assert delta(before, after, "smsbank_code_checks_total", result="ok") == 1
    for private in (code, wrong, customer.phone, customer.phone[2:], "Grace", "Hopper"):
        assert private not in text
    for (_name, labels), _ in after.items():
        for label, label_value in labels:
            # No number of six digits or more (a code, a phone, an account) in a label.
            assert not re.search(r"\d{6,}", label_value), (label, label_value)


async def test_the_outbox_depth_and_its_oldest_message_are_the_databases(
    client: Any, settings: Settings, scraper: dict[str, str]
) -> None:
    """Read from the database at scrape time: the figures of every worker alike."""
    assert value(await scrape(client, scraper), "smsbank_outbox_oldest_queued_age_seconds") == 0
    old = await enqueue_sms(settings, to="+15550123499", body="old", template="test")
    await enqueue_sms(settings, to="+15550123499", body="new", template="test")
    await enqueue_call(settings, to="+15550123499", say="a call", template="test")
    ten_minutes_ago = utcnow() - timedelta(minutes=10)
    await OutboundMessage.filter(id=old.id).update(created_at=ten_minutes_ago)
    await OutboundMessage.filter(id=old.id).update(status=OutboundStatus.SENDING)
    await enqueue_sms(settings, to="+15550123499", body="done", template="test")
    await OutboundMessage.filter(body="done").update(status=OutboundStatus.SENT)

    samples = await scrape(client, scraper)
    assert value(samples, "smsbank_outbox_depth", status="queued") == 2
    assert value(samples, "smsbank_outbox_depth", status="sending") == 1
    age = value(samples, "smsbank_outbox_oldest_queued_age_seconds")
    assert 600 <= age < 660


async def test_sends_and_failures_are_counted_by_channel(
    client: Any, settings: Settings, scraper: dict[str, str]
) -> None:
    async with FakeTwilio(account_sid="ACtest", auth_token="test-twilio-auth-token") as fake:
        twilio_settings = settings.with_overrides(
            sms_backend="twilio", twilio_api_base_url=fake.base_url
        )
        backend = TwilioBackend(twilio_settings, timeout=2.0)
        try:
            before = await scrape(client, scraper)
            for body in ("refused", "retried", "sent"):
                await enqueue_sms(settings, to="+15550123488", body=body, template="test")
            await enqueue_call(settings, to="+15550123488", say="a call", template="test")
            fake.fail_next(400, 21211)  # the first SMS: a permanent error
            fake.fail_next(500)  # the second: Twilio down for a moment
            result = await deliver_due(twilio_settings, backend, limit=1)
            result = await deliver_due(twilio_settings, backend, limit=1)
            result = await deliver_due(twilio_settings, backend)
            assert (result.sent, result.failed) == (2, 0)
        finally:
            await backend.close()
    after = await scrape(client, scraper)
    assert delta(before, after, "smsbank_outbox_sent_total", channel="sms") == 1
    assert delta(before, after, "smsbank_outbox_sent_total", channel="voice") == 1
    failures = {
        outcome: delta(
            before, after, "smsbank_outbox_send_failures_total", channel="sms", outcome=outcome
        )
        for outcome in ("failed", "retry")
    }
    assert failures == {"failed": 1, "retry": 1}


async def test_liveness_decisions_have_a_counter_by_result_and_a_latency_histogram(
    client: Any, scraper: dict[str, str]
) -> None:
    """The liveness check (SPEC 9a) records its decisions with this function."""
    before = await scrape(client, scraper)
    metrics.record_liveness_decision("passed", 0.8)
    metrics.record_liveness_decision("liveness", 1.2)
    metrics.record_liveness_decision("+15550123456 said hello", 0.1)  # never a label
    after = await scrape(client, scraper)
    for result, expected in (("passed", 1), ("liveness", 1), ("other", 1)):
        assert delta(before, after, "smsbank_liveness_decisions_total", result=result) == expected
    assert delta(before, after, "smsbank_liveness_decision_seconds_count") == 3
    assert delta(before, after, "smsbank_liveness_decision_seconds_bucket", le="1.0") == 2
