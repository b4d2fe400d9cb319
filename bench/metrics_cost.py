"""What `/metrics` costs the SMS webhook: `python -m bench.metrics_cost`.

`make bench`'s webhook figure moves by more than the whole cost of the metrics when the
machine is shared (requests/s swing by a quarter within minutes), so this measures the
cost where it is paid, in one process, with prometheus_client in multiprocess mode as
`smsbank serve` runs it:

1. each recording function on the webhook's path, called alone (CPU ns a call);
2. the signed `BAL` webhook driven through the app in-process (Quart's test client,
   SQLite, the outbox worker delivering the replies to the console backend), in
   alternating rounds with the metrics recorded and with the recording functions
   replaced by no-ops: the same code and process either way, so the difference is
   the metrics and nothing else. CPU time of the process per webhook, medians.
"""

from __future__ import annotations

import asyncio
import os
import statistics
import sys
import tempfile
import time
import timeit
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

# Before prometheus_client is first imported (it reads this once): multiprocess mode.
os.environ.setdefault("PROMETHEUS_MULTIPROC_DIR", tempfile.mkdtemp(prefix="smsbank-metrics-"))

RECORDERS = ("count_inbound_text", "observe_webhook", "count_sent")
CUSTOMERS = 200
CONCURRENCY = 32


def per_call_ns() -> dict[str, float]:
    from smsbank.ops import metrics

    calls = {
        "count_inbound_text": lambda: metrics.count_inbound_text("processed"),
        "observe_webhook": lambda: metrics.observe_webhook("/webhooks/twilio/sms", 0.004),
        "count_sent": lambda: metrics.count_sent("sms"),
    }
    timer = time.process_time
    return {
        name: round(min(timeit.repeat(call, number=20_000, repeat=5, timer=timer)) / 20_000 * 1e9)
        for name, call in calls.items()
    }


async def webhook_rounds(rounds: int, per_round: int) -> dict[str, Any]:
    from smsbank.app import create_app
    from smsbank.core.customers import create_customer
    from smsbank.core.settings import Settings
    from smsbank.ops import metrics
    from webhooks.signature import public_url, sign

    workdir = Path(tempfile.mkdtemp(prefix="smsbank-metrics-bench-"))
    settings = Settings(
        database_url=f"sqlite://{workdir / 'bank.sqlite3'}",
        public_base_url="https://bank.example.test",
        sms_backend="console",
        deepface_home=str(workdir / "deepface"),
        face_workers=1,
        face_warmup=False,
        inbound_rate_limit_per_minute=1_000_000,
        log_level="WARNING",
        expiry_sweep_seconds=0,
    )
    from smsbank.core.db import apply_migrations, close_db

    await apply_migrations(settings)
    await close_db()
    app = create_app(settings)
    real = {name: getattr(metrics, name) for name in RECORDERS}

    def recording(on: bool) -> None:
        for name in RECORDERS:
            setattr(metrics, name, real[name] if on else (lambda *args, **kwargs: None))

    cpu: dict[str, list[float]] = {"on": [], "off": []}
    async with app.test_app() as running:
        client = running.test_client()
        phones = [f"+1555700{index:04d}" for index in range(CUSTOMERS)]
        for index, phone in enumerate(phones):
            await create_customer(f"Bench {index}", phone, currency="USD", actor="bench")
        url = public_url(settings, "/webhooks/twilio/sms")
        sent = 0

        async def text(index: int) -> None:
            sid = f"SM{index:032x}"
            form = {"MessageSid": sid, "From": phones[index % CUSTOMERS], "To": "+15550001111"}
            form["Body"] = "BAL"
            response = await client.post(
                "/webhooks/twilio/sms",
                data=urlencode(form),
                headers={
                    "Content-Type": "application/x-www-form-urlencoded",
                    "X-Twilio-Signature": sign(settings, url, form),
                },
            )
            assert response.status_code == 200

        async def load(count: int) -> float:
            nonlocal sent
            started = time.process_time()
            for first in range(sent, sent + count, CONCURRENCY):
                last = min(first + CONCURRENCY, sent + count)
                await asyncio.gather(*(text(i) for i in range(first, last)))
            sent += count
            await asyncio.sleep(0.05)  # the replies' delivery is part of the cost
            return (time.process_time() - started) / count * 1e6

        await load(per_round)  # warm-up
        for round_number in range(rounds):
            for variant in ("on", "off") if round_number % 2 == 0 else ("off", "on"):
                recording(variant == "on")
                cpu[variant].append(await load(per_round))
        recording(True)
    on, off = statistics.median(cpu["on"]), statistics.median(cpu["off"])
    spread = statistics.median(abs(a - b) for a, b in zip(cpu["on"], cpu["off"], strict=True))
    return {
        "webhooks_per_round": per_round,
        "rounds": rounds,
        "cpu_us_per_webhook_with_metrics": round(on, 1),
        "cpu_us_per_webhook_without": round(off, 1),
        "difference_us": round(on - off, 1),
        "difference_percent": round((on - off) / off * 100, 2),
        "median_abs_round_difference_us": round(spread, 1),
        "each_on": [round(x, 1) for x in cpu["on"]],
        "each_off": [round(x, 1) for x in cpu["off"]],
    }


def main() -> None:
    short = "--short" in sys.argv
    calls = per_call_ns()
    print("per call, CPU ns:", calls, flush=True)
    result = asyncio.run(
        webhook_rounds(rounds=2 if short else 10, per_round=300 if short else 2000)
    )
    result["per_call_ns"] = calls
    result["recorders_per_webhook_ns"] = sum(calls.values())
    for key, value in result.items():
        print(f"{key}: {value}")


if __name__ == "__main__":
    main()
