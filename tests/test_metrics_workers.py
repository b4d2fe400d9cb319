"""Several workers, one truth: a real `smsbank serve --workers 2` counts every text in
`GET /metrics`, whichever worker took the text and whichever answers the scrape."""

from __future__ import annotations

import os
import shutil
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import urlencode

from prometheus_client import CollectorRegistry
from prometheus_client.multiprocess import MultiProcessCollector

from smsbank.settings import Settings
from tests.bank_server import live_server
from tests.conftest import ADMIN_KEY
from tests.metrics_scrape import Samples, parse, value
from tests.test_serving import bank_env, call
from tests.twilio_signing import TwilioSigner, new_sid, sms_form

SECRET = "workers-test-secret-key-0123456789abcdef"
CUSTOMERS = [f"+1555013{index:04d}" for index in range(8)]


def text(base: str, signer: TwilioSigner, phone: str) -> int:
    """POST one signed inbound SMS, as Twilio would, on a connection of its own."""
    form = sms_form(phone, "BAL", sid=new_sid())
    request = urllib.request.Request(
        base + "/webhooks/twilio/sms",
        data=urlencode(form).encode(),
        headers={
            "Content-Type": "application/x-www-form-urlencoded",
            **signer.headers("/webhooks/twilio/sms", form),
        },
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        return int(response.status)


def scrape_over_http(base: str) -> Samples:
    request = urllib.request.Request(
        base + "/metrics", headers={"Authorization": f"Bearer {ADMIN_KEY}"}
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        return parse(response.read().decode())


def commands_per_process(metrics_dir: Path, scratch: Path) -> dict[str, float]:
    """Texts counted as commands by each process, from its own file in the metrics dir."""
    counted = {}
    for index, db_file in enumerate(sorted(metrics_dir.glob("counter_*.db"))):
        alone = scratch / str(index)
        alone.mkdir(parents=True)
        shutil.copy(db_file, alone / db_file.name)
        registry = CollectorRegistry()
        MultiProcessCollector(registry, path=str(alone))
        samples = {
            (sample.name, frozenset(sample.labels.items())): sample.value
            for family in registry.collect()
            for sample in family.samples
        }
        counted[db_file.name] = value(samples, "smsbank_inbound_texts_total", outcome="command")
    return counted


def test_two_workers_count_every_text_whichever_answers(tmp_path: Path) -> None:
    metrics_dir = tmp_path / "metrics"
    metrics_dir.mkdir()
    (metrics_dir / "counter_99999.db").write_bytes(b"a previous run's counts")  # removed
    env = bank_env(
        SMSBANK_SECRET_KEY=SECRET,
        PROMETHEUS_MULTIPROC_DIR=str(metrics_dir),
        # Every text a command: a number's 21st text in a minute would be throttled.
        SMSBANK_INBOUND_RATE_LIMIT_PER_MINUTE="100000",
    )
    with live_server(env, tmp_path, workers=2) as base:
        settings = Settings(secret_key=SECRET, port=int(base.rsplit(":", 1)[1]))
        signer = TwilioSigner(settings)
        for index, phone in enumerate(CUSTOMERS):
            call(base, "POST", "/api/v1/customers", {"name": f"Worker {index}", "phone": phone})
        sent = 0
        with ThreadPoolExecutor(max_workers=32) as pool:
            # Until both workers have taken texts (the kernel shares the connections out;
            # on a busy machine the second worker may still be starting).
            for _ in range(60):
                phones = CUSTOMERS * 8
                statuses = list(pool.map(lambda phone: text(base, signer, phone), phones))
                assert statuses == [200] * len(phones)
                sent += len(phones)
                per_process = commands_per_process(metrics_dir, tmp_path / f"scratch-{sent}")
                if sum(1 for counted in per_process.values() if counted) >= 2:
                    break
                time.sleep(0.5)
        assert sum(1 for counted in per_process.values() if counted) >= 2, per_process
        assert sum(per_process.values()) == sent
        assert "counter_99999.db" not in per_process
        # Each scrape on a connection of its own, answered by either worker.
        scrapes = [scrape_over_http(base) for _ in range(12)]
    for samples in scrapes:
        assert value(samples, "smsbank_inbound_texts_total", outcome="command") == sent
        route = "/webhooks/twilio/sms"
        assert value(samples, "smsbank_webhook_request_seconds_count", route=route) == sent
    assert os.environ.get("PROMETHEUS_MULTIPROC_DIR") != str(metrics_dir)
