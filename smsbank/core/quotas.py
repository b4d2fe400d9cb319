"""Caps counted in the database: how often something may happen per time window.

Theory of operation
-------------------
A `Quota` names a kind of event and how many of them a window (an hour, by default)
allows, for one subject ("all" for a global cap, a customer id, an API key). Each
(quota, subject, window) is one row of `usage_counter`, keyed by the three together;
`take` counts one event with a conditional UPDATE (`count < limit`), so workers and
hosts sharing the database share every cap, and two callers racing for the last event
cannot both have it. Windows are fixed (the hour from :00): simple and exact to count,
at the price of a burst of up to twice the cap across the turn of an hour, which a cap
meant to bound cost and abuse (not to shape traffic) can afford.

`take` runs in the caller's transaction when there is one: an action that rolls back
gives its event back. Old rows are removed by the expiry sweep (`prune`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from tortoise import connections
from tortoise.transactions import in_transaction

from smsbank.core import sql
from smsbank.core.clock import utcnow

HOUR = timedelta(hours=1)
# Rows of windows that ended this long ago are removed by the sweep.
KEEP = timedelta(days=2)

CREATE_SQL = """
INSERT INTO usage_counter (key, count, window_start, created_at) VALUES (?, 0, ?, ?)
ON CONFLICT (key) DO NOTHING
"""
TAKE_SQL = "UPDATE usage_counter SET count = count + 1 WHERE key = ? AND count < ?"


@dataclass(frozen=True)
class Quota:
    """At most `limit` events named `name` per `window`, per subject."""

    name: str
    limit: int
    window: timedelta = HOUR

    def window_start(self, now: datetime) -> datetime:
        seconds = int(self.window.total_seconds())
        epoch = int(now.timestamp())
        return datetime.fromtimestamp(epoch - epoch % seconds, tz=now.tzinfo)

    def key(self, subject: object, now: datetime) -> str:
        return f"{self.name}:{subject}:{self.window_start(now):%Y%m%d%H%M}"


class _Refused(Exception):
    """Rolls back the quotas already taken when a later one is full."""


async def take(quota: Quota, subject: object = "all", *, now: datetime | None = None) -> bool:
    """Count one event against `quota` for `subject`; False (nothing counted) when full."""
    now = now or utcnow()
    if quota.limit <= 0:
        return False
    key = quota.key(subject, now)
    async with in_transaction() as connection:
        await sql.execute(connection, CREATE_SQL, [key, quota.window_start(now), now])
        return bool(await sql.execute(connection, TAKE_SQL, [key, quota.limit]))


async def take_all(*wanted: tuple[Quota, object], now: datetime | None = None) -> bool:
    """Count one event against every (quota, subject), or against none when one is full."""
    now = now or utcnow()
    try:
        async with in_transaction():
            for quota, subject in wanted:
                if not await take(quota, subject, now=now):
                    raise _Refused
    except _Refused:
        return False
    return True


GIVE_BACK_SQL = "UPDATE usage_counter SET count = count - 1 WHERE key = ? AND count > 0"


async def give_back(*taken: tuple[Quota, object], now: datetime | None = None) -> None:
    """Uncount an event counted (in this window) for something that then did not happen."""
    now = now or utcnow()
    connection = connections.get("default")
    for quota, subject in taken:
        await sql.execute(connection, GIVE_BACK_SQL, [quota.key(subject, now)])


async def prune(*, now: datetime | None = None) -> int:
    """Remove counters of windows that ended long ago; returns how many."""
    before = (now or utcnow()) - KEEP
    return await sql.execute(
        connections.get("default"), "DELETE FROM usage_counter WHERE window_start < ?", [before]
    )
