"""Load generator, run as its own process: `python -m bench.load SPEC.json`.

The spec lists prepared requests (already signed, each with its own MessageSid); the
generator sends them from `concurrency` connections until it runs out of requests or
time, and prints one JSON object: count, errors, elapsed seconds, requests/s and
latency percentiles in milliseconds. Bounded in count and in time; loopback only.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from typing import Any
from urllib.parse import urlsplit

import aiohttp


def percentile(sorted_values: list[float], fraction: float) -> float:
    if not sorted_values:
        return float("nan")
    index = min(len(sorted_values) - 1, max(0, round(fraction * (len(sorted_values) - 1))))
    return sorted_values[index]


def summarize(latencies: list[float], errors: int, elapsed: float) -> dict[str, Any]:
    ordered = sorted(latencies)
    return {
        "requests": len(latencies) + errors,
        "ok": len(latencies),
        "errors": errors,
        "seconds": round(elapsed, 3),
        "rps": round(len(latencies) / elapsed, 1) if elapsed else 0.0,
        "p50_ms": round(percentile(ordered, 0.50) * 1000, 2),
        "p90_ms": round(percentile(ordered, 0.90) * 1000, 2),
        "p99_ms": round(percentile(ordered, 0.99) * 1000, 2),
        "max_ms": round(ordered[-1] * 1000, 2) if ordered else None,
    }


async def run(spec: dict[str, Any]) -> dict[str, Any]:
    base = spec["base_url"]
    assert urlsplit(base).hostname in ("127.0.0.1", "localhost"), "loopback only"
    requests: list[dict[str, Any]] = spec["requests"]
    concurrency = int(spec.get("concurrency", 32))
    max_seconds = float(spec.get("max_seconds", 20))
    expect = set(spec.get("expect_status", [200]))
    latencies: list[float] = []
    errors = 0
    next_index = 0
    deadline = time.perf_counter() + max_seconds

    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector) as session:

        async def worker() -> None:
            nonlocal next_index, errors
            while time.perf_counter() < deadline and next_index < len(requests):
                item = requests[next_index]
                next_index += 1
                started = time.perf_counter()
                try:
                    async with session.request(
                        item.get("method", "POST"),
                        base + item["path"],
                        data=item.get("body"),
                        headers=item.get("headers", {}),
                    ) as response:
                        await response.read()
                        ok = response.status in expect
                except aiohttp.ClientError:
                    ok = False
                if ok:
                    latencies.append(time.perf_counter() - started)
                else:
                    errors += 1

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        elapsed = time.perf_counter() - started
    return summarize(latencies, errors, elapsed)


def main() -> None:
    with open(sys.argv[1]) as handle:
        spec = json.load(handle)
    print(json.dumps(asyncio.run(run(spec))))


if __name__ == "__main__":
    main()
