"""Bearer-key authentication for every staff route.

Applied per blueprint with `protect(blueprint)`, so a route added to a protected
blueprint is protected without anyone remembering a decorator; a test walks the URL
map to prove it.
"""

from __future__ import annotations

from typing import Any

from quart import Blueprint, g, request

from smsbank.apikeys import StaffIdentity, authenticate
from smsbank.errors import BankError
from smsbank.http import settings

BEARER_SCHEME: dict[str, Any] = {"bearerAuth": {"type": "http", "scheme": "bearer"}}


class Unauthorized(BankError):
    status = 401
    code = "unauthorized"


def current_staff() -> StaffIdentity:
    staff: StaffIdentity = g.staff
    return staff


async def require_staff() -> None:
    header = request.headers.get("Authorization", "")
    scheme, _, presented = header.partition(" ")
    staff = None
    if scheme.lower() == "bearer":
        staff = await authenticate(presented.strip(), settings().admin_api_key)
    if staff is None:
        raise Unauthorized("a valid API key is required: Authorization: Bearer <key>")
    g.staff = staff


def protect(blueprint: Blueprint) -> Blueprint:
    blueprint.before_request(require_staff)
    return blueprint
