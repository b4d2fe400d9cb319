"""Staff API: withdrawals and the audit trail (`/api/v1/withdrawals`, `/api/v1/audit`)."""

from __future__ import annotations

from typing import Any

from quart import Blueprint
from quart_schema import document_response, security_scheme, tag_blueprint, validate_querystring

from smsbank import withdrawals
from smsbank.api.auth import protect
from smsbank.api.schemas import (
    AuditList,
    AuditQuery,
    ErrorResponse,
    WithdrawalList,
    WithdrawalQuery,
)
from smsbank.models import AuditEvent, Withdrawal, WithdrawalStatus
from smsbank.money import format_amount

blueprint = protect(Blueprint("admin", __name__, url_prefix="/api/v1"))
# Overdue requests a listing expires first, at most: with a backlog (just after downtime)
# the list stays quick and the background sweep, running flat out, does the rest.
EXPIRE_BEFORE_LISTING = 20
tag_blueprint(blueprint, ["withdrawals and audit"])


def withdrawal_json(withdrawal: Withdrawal) -> dict[str, Any]:
    return {
        "id": withdrawal.id,
        "customer_id": withdrawal.customer_id,
        "amount": format_amount(withdrawal.amount),
        "status": withdrawal.status.value,
        "channel": withdrawal.channel.value,
        "reference": withdrawal.reference,
        "failure_reason": withdrawal.failure_reason,
        "created_at": withdrawal.created_at.isoformat(),
        "expires_at": withdrawal.expires_at.isoformat(),
        "completed_at": withdrawal.completed_at.isoformat() if withdrawal.completed_at else None,
    }


def audit_json(event: AuditEvent) -> dict[str, Any]:
    return {
        "id": event.id,
        "action": event.action,
        "actor": event.actor,
        "customer_id": event.customer_id,
        "details": event.details,
        "created_at": event.created_at.isoformat(),
    }


@blueprint.get("/withdrawals")
@security_scheme([{"bearerAuth": []}])
@validate_querystring(WithdrawalQuery)
@document_response(WithdrawalList, 200)
@document_response(ErrorResponse, 400)
async def get_withdrawals(query_args: WithdrawalQuery) -> dict[str, Any]:
    """Withdrawal requests, newest first, optionally by status or customer."""
    # Requests past their time show as expired now, not at the sweeper's next pass. With
    # nothing overdue (the usual case) this is one indexed query.
    await withdrawals.expire_overdue(EXPIRE_BEFORE_LISTING)
    query = Withdrawal.all()
    if query_args.status:
        query = query.filter(status=WithdrawalStatus(query_args.status))
    if query_args.customer_id:
        query = query.filter(customer_id=query_args.customer_id)
    rows = await query.order_by("-id").offset(query_args.offset).limit(query_args.limit)
    return {"withdrawals": [withdrawal_json(w) for w in rows]}


@blueprint.get("/audit")
@security_scheme([{"bearerAuth": []}])
@validate_querystring(AuditQuery)
@document_response(AuditList, 200)
@document_response(ErrorResponse, 400)
async def get_audit(query_args: AuditQuery) -> dict[str, Any]:
    """Audit events, newest first, optionally for one customer or one action."""
    query = AuditEvent.all()
    if query_args.customer_id:
        query = query.filter(customer_id=query_args.customer_id)
    if query_args.action:
        query = query.filter(action=query_args.action)
    rows = await query.order_by("-id").offset(query_args.offset).limit(query_args.limit)
    return {"events": [audit_json(e) for e in rows]}
