"""Customers: creation, look-ups and the JSON shape staff see."""

from __future__ import annotations

import secrets
import unicodedata
from decimal import Decimal
from typing import Any

from tortoise.exceptions import IntegrityError
from tortoise.transactions import in_transaction

from smsbank.core import audit, ledger
from smsbank.core.errors import Conflict, NotFound, ValidationFailed
from smsbank.core.models import Customer
from smsbank.core.money import format_amount
from smsbank.core.phones import mask_phone
from smsbank.texts.i18n import DEFAULT_LANGUAGE, Language, parse_language

MAX_NAME_LENGTH = 200
# Joiners some scripts need inside words (Persian, Indic): the only format characters a
# name may hold.
NAME_JOINERS = frozenset("\u200c\u200d")
# Letters, to Unicode, that show nothing: a name of these alone would look empty.
BLANK_LETTERS = frozenset("\u115f\u1160\u3164\uffa0")


def clean_name(name: object) -> str:
    """Collapse whitespace; refuse names that are empty, over-long, or not what they seem.

    The one check every way a name comes in goes through (staff API, `/add_customer`,
    `smsbank add-customer`, CSV import). A name is shown to staff and texted to the
    customer, so it may not carry control or format characters: bidirectional overrides
    and isolates (U+202A-202E, U+2066-2069, marks) would reorder the text around them in
    an SMS, and zero-width characters hide what a name says. It needs a visible letter.
    """
    if not isinstance(name, str):
        raise ValidationFailed("name is required", code="invalid_name")
    cleaned = " ".join(name.split())
    if not cleaned:
        raise ValidationFailed("name is required", code="invalid_name")
    if len(cleaned) > MAX_NAME_LENGTH:
        raise ValidationFailed(
            f"name is longer than {MAX_NAME_LENGTH} characters", code="invalid_name"
        )
    for ch in cleaned:
        category = unicodedata.category(ch)
        if category in ("Cc", "Cs", "Co", "Cn") or (category == "Cf" and ch not in NAME_JOINERS):
            raise ValidationFailed(
                f"name has an invisible or control character (U+{ord(ch):04X}); "
                "type the name as it is written",
                code="invalid_name",
            )
    letters = (ch for ch in cleaned if ch not in BLANK_LETTERS)
    if not any(unicodedata.category(ch).startswith("L") for ch in letters):
        raise ValidationFailed("name needs at least one letter", code="invalid_name")
    return cleaned


def new_account_number() -> str:
    """Ten digits, the last a Luhn check digit so a mistyped number is caught."""
    body = "".join(secrets.choice("0123456789") for _ in range(9))
    return body + _luhn_digit(body)


def _luhn_digit(body: str) -> str:
    total = 0
    for index, char in enumerate(reversed(body)):
        digit = int(char)
        if index % 2 == 0:
            digit *= 2
            if digit > 9:
                digit -= 9
        total += digit
    return str((10 - total % 10) % 10)


def mask_account(account_number: str) -> str:
    """`••1234`, for staff (candidates at a counter); texts say "ending 1234" instead."""
    return "••" + account_number[-4:]


def clean_language(value: object) -> Language:
    """A language from staff input (API, CLI, CSV); 400 `invalid_language` otherwise."""
    try:
        return parse_language(value)
    except ValueError as exc:
        raise ValidationFailed(str(exc), code="invalid_language") from exc


async def create_customer(
    name: str,
    phone: str,
    *,
    currency: str,
    initial_deposit: Decimal | None = None,
    language: str = DEFAULT_LANGUAGE,
    actor: str,
) -> Customer:
    """Create a customer (and their opening deposit) in one transaction."""
    name = clean_name(name)
    language = clean_language(language)
    if await Customer.exists(phone=phone):
        raise Conflict("a customer already has that phone number", code="phone_taken")
    for _ in range(5):
        try:
            async with in_transaction():
                customer = await Customer.create(
                    name=name,
                    phone=phone,
                    account_number=new_account_number(),
                    currency=currency,
                    language=language,
                )
                if initial_deposit is not None:
                    await ledger.deposit(customer.id, initial_deposit)
                    await customer.refresh_from_db()
                await audit.record(
                    "customer.created",
                    actor=actor,
                    customer_id=customer.id,
                    phone=mask_phone(phone),
                    initial_deposit=format_amount(initial_deposit) if initial_deposit else None,
                )
                return customer
        except IntegrityError as exc:
            if await Customer.exists(phone=phone):
                raise Conflict(
                    "a customer already has that phone number", code="phone_taken"
                ) from exc
            # else an account-number collision: try another number
    raise RuntimeError("could not allocate a unique account number")


MAX_ID = 2**31 - 1  # ids are 32-bit integers in both databases


async def get_customer(customer_id: int) -> Customer:
    if not 1 <= customer_id <= MAX_ID:
        raise NotFound("customer not found", code="customer_not_found")
    customer = await Customer.get_or_none(id=customer_id)
    if customer is None:
        raise NotFound("customer not found", code="customer_not_found")
    return customer


async def find_one_by_name(name: str) -> Customer:
    """The one customer with this name (case and spacing ignored).

    404 when nobody has it; 409 listing the candidates when several do, so staff can
    ask the customer for their phone number instead of guessing.
    """
    cleaned = clean_name(name)
    matches = await Customer.filter(name__iexact=cleaned).order_by("id").limit(20)
    if not matches:
        raise NotFound("no customer has that name", code="customer_not_found")
    if len(matches) > 1:
        raise Conflict(
            "several customers have that name; look them up by phone instead",
            code="ambiguous_name",
            extra={"candidates": [candidate_json(c) for c in matches]},
        )
    return matches[0]


def candidate_json(customer: Customer) -> dict[str, Any]:
    """Enough to tell namesakes apart at a counter, without exposing full numbers."""
    return {
        "customer_id": customer.id,
        "name": customer.name,
        "phone": mask_phone(customer.phone),
        "account_number": mask_account(customer.account_number),
    }


def customer_json(customer: Customer) -> dict[str, Any]:
    return {
        "id": customer.id,
        "name": customer.name,
        "phone": customer.phone,
        "account_number": customer.account_number,
        "balance": format_amount(customer.balance),
        "currency": customer.currency,
        "status": customer.status.value,
        "face_enrolled": customer.face_enrolled,
        "face_enrolled_at": customer.face_enrolled_at.isoformat()
        if customer.face_enrolled_at
        else None,
        "face_model": customer.face_model,
        "face_locked": customer.face_locked,
        # Withdrawals and number changes by SMS, after too many wrong codes in a day.
        "codes_locked": customer.codes_locked,
        # The cooling-off after a face or number change (may be in the past).
        "withdrawals_held_until": customer.withdrawals_held_until.isoformat()
        if customer.withdrawals_held_until
        else None,
        "sms_opted_out": customer.sms_opted_out,
        "language": Language(customer.language).value,
        "created_at": customer.created_at.isoformat(),
    }
