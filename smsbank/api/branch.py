"""Withdrawals and number changes started at the counter, at the original app's URLs
(`/request_otp_withdraw`, `/withdraw`, `/update_mobile`...), for branch staff.

Staff serve a customer in person: they start a withdrawal or a number change, the
customer reads them the code from their phone, staff check the face (`/verify_face`)
and record the withdrawal. Every step goes through the same state machines as the SMS
flow (`smsbank.withdrawals`, `smsbank.phone_changes`, with `Channel.BRANCH`), so the
rules (limits, code binding, five tries, one request at a time, exactly one ledger
entry) are the same whichever way a customer comes in.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field, StrictInt, StrictStr
from quart import Blueprint
from quart_schema import (
    document_response,
    security_scheme,
    tag_blueprint,
    validate_querystring,
    validate_request,
)

from smsbank import phone_changes, withdrawals
from smsbank.api.auth import current_staff, protect
from smsbank.api.customers import parse_amount_field, parse_phone_field
from smsbank.api.schemas import CustomerOut, ErrorBody, ErrorResponse, Strict, TransactionOut
from smsbank.customers import MAX_ID, customer_json, get_customer
from smsbank.errors import BankError, ValidationFailed
from smsbank.http import settings
from smsbank.ledger import entry_json
from smsbank.models import Channel

blueprint = protect(Blueprint("branch", __name__))
tag_blueprint(blueprint, ["original staff endpoints"])

Id = StrictInt
# A code as typed at a counter: "012345", or a JSON number (leading zeros then lost).
CodeInput = StrictStr | StrictInt


class AmountQuery(BaseModel):
    amount: str = Field(max_length=40, description='e.g. "20", "20.50" or "$1,000.00"')


class WithdrawalIdOut(BaseModel):
    withdrawal_id: int


class VerifyOtpWithdraw(Strict):
    withdrawal_id: Id = Field(ge=1, le=MAX_ID)
    otp: CodeInput


class VerifiedOut(BaseModel):
    verified: bool


class CodeErrorResponse(BaseModel):
    """A 400: a wrong or expired code carries how many tries are left."""

    error: ErrorBody
    attempts_left: int | None = None


class RecordWithdrawal(Strict):
    withdrawal_id: Id = Field(ge=1, le=MAX_ID)


class WithdrawOut(BaseModel):
    withdrawal_id: int
    transaction: TransactionOut
    customer: CustomerOut


class RequestUpdateOtp(Strict):
    customer_id: Id = Field(ge=1, le=MAX_ID)
    new_phone_number: StrictStr = Field(max_length=64)


class PhoneChangeIdOut(BaseModel):
    phone_change_id: int


class UpdateMobile(Strict):
    customer_id: Id = Field(ge=1, le=MAX_ID)
    new_phone_number: StrictStr = Field(max_length=64)
    otp: CodeInput


class CodeRejected(BankError):
    """A wrong, expired or exhausted code: 400 with the tries left."""

    status = 400
    code = "invalid_code"


def clean_code(value: str | int) -> str:
    """Six digits, or a 400 that does not count as a guess (it could not be one)."""
    if isinstance(value, int):
        if not 0 <= value <= 999_999:
            raise ValidationFailed("otp must be the 6-digit code", code="invalid_otp")
        return f"{value:06d}"
    text = "".join(value.split())
    if len(text) != 6 or not text.isascii() or not text.isdigit():
        raise ValidationFailed("otp must be the 6-digit code", code="invalid_otp")
    return text


def code_rejected(message: str, attempts_left: int) -> CodeRejected:
    return CodeRejected(
        message,
        code="too_many_attempts" if attempts_left == 0 else "invalid_code",
        extra={"attempts_left": attempts_left},
    )


@blueprint.get("/request_otp_withdraw/<int:customer_id>")
@security_scheme([{"bearerAuth": []}])
@validate_querystring(AmountQuery)
@document_response(WithdrawalIdOut, 202)
@document_response(ErrorResponse, 400)
@document_response(ErrorResponse, 403)
@document_response(ErrorResponse, 404)
@document_response(ErrorResponse, 409)
@document_response(ErrorResponse, 429)
async def get_request_otp_withdraw(
    customer_id: int, query_args: AmountQuery
) -> tuple[dict[str, Any], int]:
    """Start a withdrawal at the branch; the code goes to the customer's phone."""
    amount = parse_amount_field(query_args.amount, "amount")
    withdrawal = await withdrawals.start_withdrawal(
        settings(), customer_id, amount, channel=Channel.BRANCH, actor=current_staff().actor
    )
    return {"withdrawal_id": withdrawal.id}, 202


@blueprint.post("/verify_otp_withdraw")
@security_scheme([{"bearerAuth": []}])
@validate_request(VerifyOtpWithdraw)
@document_response(VerifiedOut, 200)
@document_response(CodeErrorResponse, 400)
@document_response(ErrorResponse, 404)
@document_response(ErrorResponse, 409)
@document_response(ErrorResponse, 410)
async def post_verify_otp_withdraw(data: VerifyOtpWithdraw) -> dict[str, Any]:
    """Check the code the customer reads out; 400 with the tries left when it is wrong."""
    code = clean_code(data.otp)
    outcome = await withdrawals.verify_code(
        settings(), data.withdrawal_id, code, actor=current_staff().actor
    )
    if not outcome.ok:
        raise code_rejected(outcome.message, outcome.attempts_left)
    return {"verified": True}


@blueprint.post("/withdraw")
@security_scheme([{"bearerAuth": []}])
@validate_request(RecordWithdrawal)
@document_response(WithdrawOut, 201)
@document_response(ErrorResponse, 400)
@document_response(ErrorResponse, 404)
@document_response(ErrorResponse, 409)
@document_response(ErrorResponse, 410)
async def post_withdraw(data: RecordWithdrawal) -> tuple[dict[str, Any], int]:
    """Record a withdrawal whose code and face passed: exactly one ledger entry (409 after;
    410 when its approval was not used within the conversation timeout)."""
    entry = await withdrawals.record_withdrawal(
        settings(), data.withdrawal_id, actor=current_staff().actor
    )
    customer = await get_customer(entry.customer_id)
    return {
        "withdrawal_id": data.withdrawal_id,
        "transaction": entry_json(entry),
        "customer": customer_json(customer),
    }, 201


@blueprint.post("/request_update_otp")
@security_scheme([{"bearerAuth": []}])
@validate_request(RequestUpdateOtp)
@document_response(PhoneChangeIdOut, 202)
@document_response(ErrorResponse, 400)
@document_response(ErrorResponse, 403)
@document_response(ErrorResponse, 404)
@document_response(ErrorResponse, 409)
@document_response(ErrorResponse, 429)
async def post_request_update_otp(data: RequestUpdateOtp) -> tuple[dict[str, Any], int]:
    """Start a number change at the branch; the code goes to the NEW number."""
    new_phone = parse_phone_field(data.new_phone_number, "new_phone_number")
    change = await phone_changes.start_phone_change(
        settings(), data.customer_id, new_phone, channel=Channel.BRANCH, actor=current_staff().actor
    )
    return {"phone_change_id": change.id}, 202


@blueprint.post("/update_mobile")
@security_scheme([{"bearerAuth": []}])
@validate_request(UpdateMobile)
@document_response(CustomerOut, 200)
@document_response(CodeErrorResponse, 400)
@document_response(ErrorResponse, 404)
@document_response(ErrorResponse, 409)
@document_response(ErrorResponse, 410)
async def post_update_mobile(data: UpdateMobile) -> dict[str, Any]:
    """Change the number with the code sent to it; both numbers are told."""
    new_phone = parse_phone_field(data.new_phone_number, "new_phone_number")
    code = clean_code(data.otp)
    customer = await get_customer(data.customer_id)
    change = await phone_changes.branch_change_awaiting_code(customer.id, new_phone)
    outcome = await phone_changes.verify_code(
        settings(), change.id, code, actor=current_staff().actor
    )
    if not outcome.ok:
        raise code_rejected(outcome.message, outcome.attempts_left)
    return customer_json(await get_customer(customer.id))
