"""Staff API: customers, deposits and transactions (`/api/v1/customers...`)."""

from __future__ import annotations

from typing import Any

from quart import Blueprint
from quart_schema import (
    document_response,
    security_scheme,
    tag_blueprint,
    validate_querystring,
    validate_request,
)
from tortoise.transactions import in_transaction

from smsbank.api.auth import current_staff, protect
from smsbank.api.schemas import (
    CustomerList,
    CustomerOut,
    CustomerPatch,
    CustomerQuery,
    Deposit,
    DepositOut,
    ErrorResponse,
    NewCustomer,
    PageQuery,
    TransactionList,
)
from smsbank.core import audit, ledger
from smsbank.core.clock import utcnow
from smsbank.core.customers import clean_name, create_customer, customer_json, get_customer
from smsbank.core.errors import ValidationFailed
from smsbank.core.models import Customer, CustomerStatus
from smsbank.core.money import InvalidAmount, format_amount, parse_amount
from smsbank.core.phones import InvalidPhone, normalize_phone
from smsbank.http import settings

blueprint = protect(Blueprint("customers", __name__, url_prefix="/api/v1"))
tag_blueprint(blueprint, ["customers"])


def parse_amount_field(value: object, field: str) -> Any:
    try:
        return parse_amount(value)
    except InvalidAmount as exc:
        raise ValidationFailed(f"{field}: {exc}", code="invalid_amount") from exc


def parse_phone_field(value: object, field: str = "phone") -> str:
    try:
        return normalize_phone(value, settings().default_region)
    except InvalidPhone as exc:
        raise ValidationFailed(f"{field}: {exc}", code="invalid_phone") from exc


@blueprint.get("/customers")
@security_scheme([{"bearerAuth": []}])
@validate_querystring(CustomerQuery)
@document_response(CustomerList, 200)
@document_response(ErrorResponse, 400)
async def get_customers(query_args: CustomerQuery) -> dict[str, Any]:
    """List customers, optionally filtered by name (contains) or phone (any format)."""
    query = Customer.all()
    if query_args.name:
        query = query.filter(name__icontains=" ".join(query_args.name.split()))
    if query_args.phone:
        query = query.filter(phone=parse_phone_field(query_args.phone))
    rows = await query.order_by("id").offset(query_args.offset).limit(query_args.limit)
    return {"customers": [customer_json(c) for c in rows]}


@blueprint.post("/customers")
@security_scheme([{"bearerAuth": []}])
@validate_request(NewCustomer)
@document_response(CustomerOut, 201)
@document_response(ErrorResponse, 400)
@document_response(ErrorResponse, 409)
async def post_customer(data: NewCustomer) -> tuple[dict[str, Any], int]:
    """Open an account; an initial deposit is recorded as the first ledger entry."""
    name = clean_name(data.name)
    phone = parse_phone_field(data.phone)
    deposit = (
        parse_amount_field(data.initial_deposit, "initial_deposit")
        if data.initial_deposit is not None
        else None
    )
    customer = await create_customer(
        name,
        phone,
        currency=settings().currency,
        initial_deposit=deposit,
        language=data.language,
        actor=current_staff().actor,
    )
    return customer_json(customer), 201


@blueprint.get("/customers/<int:customer_id>")
@security_scheme([{"bearerAuth": []}])
@document_response(CustomerOut, 200)
@document_response(ErrorResponse, 404)
async def get_customer_by_id(customer_id: int) -> dict[str, Any]:
    """One customer."""
    return customer_json(await get_customer(customer_id))


@blueprint.patch("/customers/<int:customer_id>")
@security_scheme([{"bearerAuth": []}])
@validate_request(CustomerPatch)
@document_response(CustomerOut, 200)
@document_response(ErrorResponse, 400)
@document_response(ErrorResponse, 404)
async def patch_customer(customer_id: int, data: CustomerPatch) -> dict[str, Any]:
    """Rename, lock or unlock an account, lift a face-verification lockout or the lock
    on codes by SMS (`codes_locked`, after too many wrong codes in a day), or set the
    language the bank writes and speaks to the customer in."""
    customer = await get_customer(customer_id)
    changes: dict[str, Any] = {}
    if data.name is not None:
        changes["name"] = clean_name(data.name)
    if data.status is not None:
        changes["status"] = CustomerStatus(data.status)
    if data.face_locked is not None:
        changes["face_locked"] = data.face_locked
        if not data.face_locked:
            changes["face_failures"] = 0
    if data.codes_locked is not None:
        changes["codes_locked"] = data.codes_locked
        if not data.codes_locked:
            # The wrong codes that locked them no longer count toward the next lock.
            changes["codes_unlocked_at"] = utcnow()
    if data.language is not None:
        changes["language"] = data.language
    if not changes:
        raise ValidationFailed(
            "nothing to change: send name, status, face_locked, codes_locked or language"
        )
    async with in_transaction():
        await Customer.filter(id=customer.id).update(**changes)
        await customer.refresh_from_db()
        await audit.record(
            "customer.updated",
            actor=current_staff().actor,
            customer_id=customer.id,
            fields=sorted(changes.keys() - {"face_failures", "codes_unlocked_at"}),
            status=customer.status.value,
            face_locked=customer.face_locked,
            codes_locked=customer.codes_locked,
            language=customer.language,
        )
    return customer_json(customer)


@blueprint.post("/customers/<int:customer_id>/deposits")
@security_scheme([{"bearerAuth": []}])
@validate_request(Deposit)
@document_response(DepositOut, 201)
@document_response(ErrorResponse, 400)
@document_response(ErrorResponse, 404)
async def post_deposit(customer_id: int, data: Deposit) -> tuple[dict[str, Any], int]:
    """Credit cash paid in at a branch."""
    amount = parse_amount_field(data.amount, "amount")
    await get_customer(customer_id)
    async with in_transaction():
        entry = await ledger.deposit(customer_id, amount)
        await audit.record(
            "deposit.recorded",
            actor=current_staff().actor,
            customer_id=customer_id,
            amount=format_amount(amount),
            reference=entry.reference,
        )
    customer = await get_customer(customer_id)
    return {"transaction": ledger.entry_json(entry), "customer": customer_json(customer)}, 201


@blueprint.get("/customers/<int:customer_id>/transactions")
@security_scheme([{"bearerAuth": []}])
@validate_querystring(PageQuery)
@document_response(TransactionList, 200)
@document_response(ErrorResponse, 400)
@document_response(ErrorResponse, 404)
async def get_transactions(customer_id: int, query_args: PageQuery) -> dict[str, Any]:
    """The customer's ledger, newest first."""
    await get_customer(customer_id)
    entries = await ledger.recent_entries(customer_id, query_args.limit, query_args.offset)
    return {"transactions": [ledger.entry_json(e) for e in entries]}
