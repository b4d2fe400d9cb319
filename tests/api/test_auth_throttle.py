"""Wrong staff keys are throttled per client address: after the limit, 429 with
Retry-After, the key not even checked; the window slides; every worker sees the same
count (it is in the database); IPv6 is counted by /64; X-Forwarded-For counts only
behind the proxies the settings trust."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import pytest

from smsbank.app import create_app
from smsbank.clock import utcnow
from smsbank.models import AuthFailure
from smsbank.settings import Settings
from tests.conftest import ADMIN_KEY

LIMIT = Settings().auth_failure_limit
WINDOW = Settings().auth_failure_window_seconds
WRONG = {"Authorization": "Bearer sbk_not-the-key"}
RIGHT = {"Authorization": f"Bearer {ADMIN_KEY}"}


async def get(client: Any, address: str, headers: dict[str, str]) -> Any:
    """GET a staff route from `address` (the connection's own, as the server sees it)."""
    return await client.get(
        "/api/v1/customers", headers=headers, scope_base={"client": (address, 50000)}
    )


async def statuses(client: Any, address: str, auth: dict[str, str], times: int) -> list[int]:
    return [(await get(client, address, auth)).status_code for _ in range(times)]


async def test_wrong_keys_are_throttled_per_address(client: Any) -> None:
    assert await statuses(client, "203.0.113.7", WRONG, LIMIT) == [401] * LIMIT

    refused = await get(client, "203.0.113.7", WRONG)
    assert refused.status_code == 429
    assert (await refused.get_json())["error"]["code"] == "rate_limited"
    assert 0 < int(refused.headers["Retry-After"]) <= WINDOW
    # While refused, even the right key is not looked at: guessing learns nothing.
    assert await statuses(client, "203.0.113.7", RIGHT, 1) == [429]
    # Others are not affected.
    assert await statuses(client, "203.0.113.8", RIGHT, 1) == [200]
    assert await statuses(client, "203.0.113.8", WRONG, 1) == [401]
    # Refusals are not written: the address keeps at most LIMIT rows.
    assert await AuthFailure.filter(client="203.0.113.7").count() == LIMIT


async def test_no_key_at_all_is_never_throttled(client: Any) -> None:
    # A missing key is not a guess: it is neither counted nor refused as one.
    assert await statuses(client, "203.0.113.10", {}, LIMIT + 5) == [401] * (LIMIT + 5)
    assert await AuthFailure.filter(client="203.0.113.10").count() == 0


async def test_the_window_slides(client: Any) -> None:
    await statuses(client, "203.0.113.11", WRONG, LIMIT)
    assert await statuses(client, "203.0.113.11", RIGHT, 1) == [429]
    # The oldest failure leaves the window: one more try is allowed, and it is right.
    [oldest] = await AuthFailure.filter(client="203.0.113.11").order_by("created_at").limit(1)
    await AuthFailure.filter(id=oldest.id).update(
        created_at=utcnow() - timedelta(seconds=WINDOW + 1)
    )
    assert await statuses(client, "203.0.113.11", RIGHT, 1) == [200]


async def test_ipv6_is_counted_by_its_64(client: Any) -> None:
    for host in range(1, LIMIT + 1):
        assert await statuses(client, f"2001:db8:1:2::{host:x}", WRONG, 1) == [401]
    assert await statuses(client, "2001:db8:1:2:ffff::1", RIGHT, 1) == [429]
    assert await statuses(client, "2001:db8:1:3::1", RIGHT, 1) == [200]


@pytest.fixture
async def second_worker(settings: Settings, app: Any) -> AsyncIterator[Any]:
    """Another app on the same database, as a second `smsbank serve` worker would be."""
    other = create_app(settings)
    async with other.test_app() as test_app:
        yield test_app.test_client()


async def test_every_worker_sees_the_same_count(client: Any, second_worker: Any) -> None:
    half = LIMIT // 2
    await statuses(client, "203.0.113.12", WRONG, half)
    await statuses(second_worker, "203.0.113.12", WRONG, LIMIT - half)
    assert await statuses(client, "203.0.113.12", RIGHT, 1) == [429]
    assert await statuses(second_worker, "203.0.113.12", RIGHT, 1) == [429]


@pytest.fixture
async def behind_a_proxy(settings: Settings, app: Any) -> AsyncIterator[Any]:
    app = create_app(settings.with_overrides(trusted_proxy_hops=1))
    async with app.test_app() as test_app:
        yield test_app.test_client()


async def test_forwarded_addresses_count_only_behind_trusted_proxies(
    client: Any, behind_a_proxy: Any
) -> None:
    proxy = "10.0.0.1"
    # Behind one trusted proxy, each client it forwards has its own count...
    for _ in range(LIMIT):
        spoofed = {"X-Forwarded-For": "spoofed, 198.51.100.1"}
        response = await get(behind_a_proxy, proxy, {**WRONG, **spoofed})
        assert response.status_code == 401
    for forwarded, status in (("198.51.100.1", 429), ("198.51.100.2", 200)):
        response = await get(behind_a_proxy, proxy, {**RIGHT, "X-Forwarded-For": forwarded})
        assert response.status_code == status, forwarded


async def test_forwarded_addresses_are_ignored_unless_proxies_are_trusted(client: Any) -> None:
    # Without trusted proxies the header is the client's to choose: it changes nothing.
    for index in range(LIMIT):
        spoofed = {"X-Forwarded-For": f"198.51.100.{index}"}
        assert (await get(client, "203.0.113.13", {**WRONG, **spoofed})).status_code == 401
    fresh = {"X-Forwarded-For": "198.51.100.200"}
    assert (await get(client, "203.0.113.13", {**RIGHT, **fresh})).status_code == 429
