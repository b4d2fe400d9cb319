"""Request and response shapes of the staff API, for validation and OpenAPI.

Amounts come in as strings or numbers and are parsed by `smsbank.core.money`, so the
rules ("20", "20.5", "$1,000.00"; no negatives, zero or third decimals) live in one
place; they go out as strings with two decimals.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, StrictFloat, StrictInt, StrictStr

from smsbank.texts.i18n import Language

# Free text in a query string: no NUL. PostgreSQL text cannot hold or even be compared
# with one, so a NUL in a search would reach the database as an error (a 503).
NO_NUL = r"^[^\x00]*$"

AmountInput = StrictStr | StrictInt | StrictFloat


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ErrorBody(BaseModel):
    code: str
    message: str


class ErrorResponse(BaseModel):
    error: ErrorBody


LANGUAGE_DOC = "what the bank writes and says to the customer in: en (English) or es (Spanish)"


class NewCustomer(Strict):
    name: StrictStr = Field(max_length=400)
    phone: StrictStr = Field(max_length=64)
    initial_deposit: AmountInput | None = None
    language: Language = Field(default=Language.EN, description=LANGUAGE_DOC)


class CustomerPatch(Strict):
    name: StrictStr | None = Field(default=None, max_length=400)
    status: Literal["active", "locked"] | None = None
    face_locked: bool | None = None
    codes_locked: bool | None = None
    language: Language | None = Field(default=None, description=LANGUAGE_DOC)


class Deposit(Strict):
    amount: AmountInput


class CustomerQuery(BaseModel):
    name: str | None = Field(default=None, max_length=400, pattern=NO_NUL)
    phone: str | None = Field(default=None, max_length=64)
    limit: int = Field(default=50, ge=1, le=200)
    offset: int = Field(default=0, ge=0, le=1_000_000)


class PageQuery(BaseModel):
    limit: int = Field(default=50, ge=1, le=200)
    offset: int = Field(default=0, ge=0, le=1_000_000)


class WithdrawalQuery(PageQuery):
    status: (
        Literal[
            "awaiting_code",
            "awaiting_selfie",
            "approved",
            "completed",
            "failed",
            "cancelled",
            "expired",
        ]
        | None
    ) = None
    customer_id: int | None = Field(default=None, ge=1, le=2**31 - 1)


class AuditQuery(PageQuery):
    customer_id: int | None = Field(default=None, ge=1, le=2**31 - 1)
    action: str | None = Field(default=None, max_length=60, pattern=NO_NUL)


class NameQuery(BaseModel):
    name: str = Field(max_length=400, pattern=NO_NUL)


class PhoneQuery(BaseModel):
    phone: str = Field(max_length=64)


class CustomerOut(BaseModel):
    id: int
    name: str
    phone: str
    account_number: str
    balance: str
    currency: str
    status: str
    face_enrolled: bool
    face_enrolled_at: str | None
    face_model: str | None
    face_locked: bool
    codes_locked: bool
    withdrawals_held_until: str | None
    sms_opted_out: bool
    language: Language = Field(description=LANGUAGE_DOC)
    created_at: str


class CustomerList(BaseModel):
    customers: list[CustomerOut]


class TransactionOut(BaseModel):
    reference: str
    kind: str
    amount: str
    balance_after: str
    created_at: str


class TransactionList(BaseModel):
    transactions: list[TransactionOut]


class DepositOut(BaseModel):
    transaction: TransactionOut
    customer: CustomerOut


class WithdrawalOut(BaseModel):
    id: int
    customer_id: int
    amount: str
    status: str
    channel: str
    reference: str | None
    failure_reason: str | None
    created_at: str
    expires_at: str
    completed_at: str | None


class WithdrawalList(BaseModel):
    withdrawals: list[WithdrawalOut]


class AuditOut(BaseModel):
    id: int
    action: str
    actor: str
    customer_id: int | None
    details: dict[str, object]
    created_at: str


class AuditList(BaseModel):
    events: list[AuditOut]


class CustomerIdOut(BaseModel):
    customer_id: int


class PhoneNumberOut(BaseModel):
    phone_number: str
