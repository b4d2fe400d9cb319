"""A throttle on wrong staff keys, per client address, in the database.

Why the database and not process memory: several workers and hosts serve the API and
share only the database (SPEC §12). A counter in each process would let an attacker
multiply the allowance by the number of workers (a load balancer spreads the guesses),
and a restart would forget it. The cost is a query on each staff request that presents
a key, which the staff API can afford; the SMS webhooks never come here.

The window slides: a client with `limit` failures in the last `window` seconds gets
429 (its key is not even checked, so guessing learns nothing) until the oldest of them
leaves the window, which is what Retry-After says. While refused, nothing more is
written, so each client keeps at most `limit` rows; rows older than the window are
deleted when a new failure is written. IPv6 clients are counted by their /64, the
block one subscriber gets, so an attacker cannot rotate through their own addresses.
"""

from __future__ import annotations

import ipaddress
import math
from datetime import datetime, timedelta

from smsbank.core.clock import utcnow
from smsbank.core.errors import TooManyRequests
from smsbank.core.models import AuthFailure
from smsbank.core.settings import Settings


def client_key(address: str | None) -> str:
    """What the throttle counts by: an IPv4 address, an IPv6 /64, or the raw text."""
    if not address:
        return "unknown"
    try:
        parsed = ipaddress.ip_address(address)
    except ValueError:
        return address[:64]
    if isinstance(parsed, ipaddress.IPv6Address):
        if parsed.ipv4_mapped is not None:
            return str(parsed.ipv4_mapped)
        return str(ipaddress.ip_network(f"{parsed}/64", strict=False))
    return str(parsed)


async def check(settings: Settings, client: str) -> None:
    """Raise 429 when `client` has used up its wrong keys for now."""
    limit = settings.auth_failure_limit
    window = timedelta(seconds=settings.auth_failure_window_seconds)
    now = utcnow()
    recent: list[datetime] = await (
        AuthFailure.filter(client=client, created_at__gt=now - window)
        .order_by("created_at")
        .limit(limit)
        .values_list("created_at", flat=True)
    )  # type: ignore[assignment]
    if len(recent) < limit:
        return
    wait = math.ceil((recent[0] + window - now).total_seconds())
    raise TooManyRequests(
        f"too many wrong API keys from this address; try again in {max(wait, 1)} seconds",
        retry_after=max(wait, 1),
    )


async def record_failure(settings: Settings, client: str) -> None:
    now = utcnow()
    window = timedelta(seconds=settings.auth_failure_window_seconds)
    await AuthFailure.filter(created_at__lt=now - window).delete()
    await AuthFailure.create(client=client)
