"""`/healthz` (the process answers) and `/readyz` (database and face model ready).

`/healthz?challenge=<random>` also answers a `proof` that this server holds the
bank's secret key, for `smsbank check`: a public URL that answers 200 may still be
an old tunnel to some other server, and only the bank itself can answer a fresh
challenge. The proof is keyed by a key derived from the secret key for this one use,
so no challenge can make it compute anything else keyed by the secret (a code's
hash, the console-mode webhook signing key).
"""

from __future__ import annotations

import hashlib
import hmac
import re
from typing import Any

from quart import Blueprint, request
from quart_schema import hide
from tortoise.exceptions import DBConnectionError, OperationalError

from smsbank.core.db import ping_db
from smsbank.core.settings import Settings
from smsbank.http import services, settings

blueprint = Blueprint("health", __name__)

CHALLENGE_RE = re.compile(r"^[A-Za-z0-9_-]{16,128}$", re.ASCII)
_PROOF_KEY_LABEL = b"smsbank healthz instance proof"


def instance_proof(configured: Settings, challenge: str) -> str:
    """What this bank answers to `challenge` (any server with the same secret key too)."""
    key = hmac.new(configured.secret_key.encode(), _PROOF_KEY_LABEL, hashlib.sha256).digest()
    return hmac.new(key, challenge.encode(), hashlib.sha256).hexdigest()


@blueprint.get("/healthz")
@hide
async def get_healthz() -> dict[str, str]:
    challenge = request.args.get("challenge", "")
    if CHALLENGE_RE.match(challenge):
        return {"status": "ok", "proof": instance_proof(settings(), challenge)}
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
