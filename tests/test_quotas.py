"""Caps counted in the database (`smsbank/core/quotas.py`): shared, exact, and per window."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from smsbank.core import quotas
from smsbank.core.models import UsageCounter
from smsbank.core.quotas import Quota

NOON = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)


async def test_a_quota_allows_its_limit_per_window_and_subject(db: None) -> None:
    quota = Quota("test_event", 3)
    taken = [await quotas.take(quota, "a", now=NOON + timedelta(minutes=i)) for i in range(5)]
    assert taken == [True, True, True, False, False]
    assert await quotas.take(quota, "b", now=NOON)  # another subject has its own count
    assert await quotas.take(quota, "a", now=NOON + timedelta(hours=1))  # the next hour
    assert await UsageCounter.filter(key__startswith="test_event:a:").count() == 2


async def test_callers_racing_for_the_last_event_get_it_once(db: None) -> None:
    quota = Quota("race", 5)
    results = await asyncio.gather(*(quotas.take(quota, now=NOON) for _ in range(12)))
    assert sum(results) == 5


async def test_take_all_counts_everything_or_nothing(db: None) -> None:
    small, large = Quota("small", 1), Quota("large", 10)
    assert await quotas.take_all((small, 1), (large, "all"), now=NOON)
    assert not await quotas.take_all((large, "all"), (small, 1), now=NOON)
    # The refused attempt gave its `large` event back: one counted, not two.
    [row] = await UsageCounter.filter(key__startswith="large:")
    assert row.count == 1


async def test_a_zero_limit_allows_nothing_and_old_windows_are_pruned(db: None) -> None:
    assert not await quotas.take(Quota("off", 0), now=NOON)
    await quotas.take(Quota("old", 1), now=NOON - timedelta(days=3))
    await quotas.take(Quota("recent", 1), now=NOON)
    assert await quotas.prune(now=NOON) == 1
    assert [row.key.split(":")[0] for row in await UsageCounter.all()] == ["recent"]
