"""Bearer-key authentication for every staff route.

Applied per blueprint with `protect(blueprint)`, so a route added to a protected
blueprint is protected without anyone remembering a decorator; a test walks the URL
map to prove it. Wrong keys are throttled per client address (`smsbank.api.auth_throttle`).
"""

from __future__ import annotations

from typing import Any

from quart import Blueprint, g, request

from smsbank.api import auth_throttle
from smsbank.api.apikeys import StaffIdentity, authenticate
from smsbank.core.errors import BankError
from smsbank.http import settings

BEARER_SCHEME: dict[str, Any] = {"bearerAuth": {"type": "http", "scheme": "bearer"}}


class Unauthorized(BankError):
    status = 401
    code = "unauthorized"


def current_staff() -> StaffIdentity:
    staff: StaffIdentity = g.staff
    return staff


def client_address() -> str | None:
    """The caller's address: the connection's, or the one trusted proxies forwarded."""
    hops = settings().trusted_proxy_hops
    if hops > 0:
        forwarded = [part.strip() for part in request.headers.get("X-Forwarded-For", "").split(",")]
        if len(forwarded) >= hops and forwarded[-hops]:
            return forwarded[-hops]
    return request.remote_addr


async def require_staff() -> None:
    header = request.headers.get("Authorization", "")
    scheme, _, presented = header.partition(" ")
    presented = presented.strip()
    staff = None
    if scheme.lower() == "bearer" and presented:
        # Only a presented key is a guess; a missing header teaches nothing.
        configured = settings()
        client = auth_throttle.client_key(client_address())
        await auth_throttle.check(configured, client)
        staff = await authenticate(presented, configured.admin_api_key)
        if staff is None:
            await auth_throttle.record_failure(configured, client)
    if staff is None:
        raise Unauthorized("a valid API key is required: Authorization: Bearer <key>")
    g.staff = staff


def protect(blueprint: Blueprint) -> Blueprint:
    blueprint.before_request(require_staff)
    return blueprint
