"""Audit trail: one row per code sent or checked, selfie checked, withdrawal, phone
change and admin action. Details never hold codes, tokens or keys."""

from __future__ import annotations

import logging
from typing import Any

from smsbank.core.models import AuditEvent

log = logging.getLogger("smsbank.audit")

# The actor of what the bank does by itself (a request expiring, for one).
SYSTEM = "system"


async def record(
    action: str, *, actor: str, customer_id: int | None = None, **details: Any
) -> AuditEvent:
    """Write an audit event (inside the caller's transaction, if there is one)."""
    event = await AuditEvent.create(
        action=action, actor=actor, customer_id=customer_id, details=details
    )
    log.info("audit", extra={"action": action, "actor": actor, "customer_id": customer_id})
    return event
