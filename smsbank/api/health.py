"""`/healthz` (the process answers) and `/readyz` (database and face model ready)."""

from __future__ import annotations

from typing import Any

from quart import Blueprint
from quart_schema import hide
from tortoise.exceptions import DBConnectionError, OperationalError

from smsbank.db import ping_db
from smsbank.http import services

blueprint = Blueprint("health", __name__)


@blueprint.get("/healthz")
@hide
async def get_healthz() -> dict[str, str]:
    return {"status": "ok"}


@blueprint.get("/readyz")
@hide
async def get_readyz() -> tuple[dict[str, Any], int]:
    checks: dict[str, str] = {}
    try:
        await ping_db()
        checks["database"] = "ok"
    except (DBConnectionError, OperationalError, ConnectionError, OSError):
        checks["database"] = "unreachable"
    checks["face_model"] = "ok" if services().face_ready else "not_loaded"
    ready = all(value == "ok" for value in checks.values())
    return {"status": "ready" if ready else "not_ready", "checks": checks}, 200 if ready else 503
