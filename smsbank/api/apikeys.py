"""Staff API keys: random, shown once, stored as SHA-256.

Keys carry 256 bits of randomness, so a plain SHA-256 is enough to make a stolen
database useless for logging in, and (unlike a keyed hash) it survives a rotation of
the secret key.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass

from smsbank.core.clock import utcnow
from smsbank.core.models import ApiKey

KEY_PREFIX = "sbk_"


@dataclass(frozen=True)
class StaffIdentity:
    """Who is calling the admin API; recorded as the actor of audit events."""

    name: str

    @property
    def actor(self) -> str:
        return f"api_key:{self.name}"


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


async def create_api_key(name: str) -> tuple[ApiKey, str]:
    """Create a key; the plain key is returned once and never stored."""
    key = KEY_PREFIX + secrets.token_urlsafe(32)
    row = await ApiKey.create(name=name, key_hash=hash_key(key), prefix=key[:8])
    return row, key


async def authenticate(presented: str, bootstrap_key: str) -> StaffIdentity | None:
    """The staff identity for a presented key, or None."""
    if not presented or len(presented) > 200:
        return None
    if bootstrap_key and hmac.compare_digest(
        hash_key(presented).encode(), hash_key(bootstrap_key).encode()
    ):
        return StaffIdentity(name="bootstrap")
    row = await ApiKey.get_or_none(key_hash=hash_key(presented), revoked_at=None)
    if row is None:
        return None
    now = utcnow()
    # Touch at most once a minute: a write per request would serialise busy staff.
    if row.last_used_at is None or (now - row.last_used_at).total_seconds() > 60:
        row.last_used_at = now
        await row.save(update_fields=["last_used_at"])
    return StaffIdentity(name=row.name)
