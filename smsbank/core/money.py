"""Money: the one home for parsing, formatting and storing amounts.

Amounts are `Decimal` with exactly two places in Python, integer minor units (cents)
in the database, and strings with two decimals (`"20.00"`) in JSON. Floats never
touch money: a float that arrives in JSON is turned into its shortest decimal text
first, so `20.1` means twenty dollars ten cents and not 20.0999999.
"""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation

CENT = Decimal("0.01")
MAX_AMOUNT = Decimal("1000000000.00")  # far above any limit; keeps minor units in int64

_CURRENCY_SYMBOLS = {"USD": "$", "EUR": "€", "GBP": "£", "CAD": "$", "AUD": "$", "NGN": "₦"}
# Optional currency sign, then digits with correct thousands groups or plain digits,
# then at most two decimals.
_AMOUNT_RE = re.compile(
    r"^[$€£₦]?\s*(?P<int>[0-9]{1,3}(?:,[0-9]{3})+|[0-9]+)?(?:\.(?P<frac>[0-9]{1,2}))?$",
    re.ASCII,
)


class InvalidAmount(ValueError):
    """The text is not a positive amount with at most two decimals."""


def parse_amount(value: object) -> Decimal:
    """Parse user or staff input into a positive two-place Decimal.

    Accepts "20", "20.5", "$1,000.00", 20 and 20.5; refuses zero, negatives, more than
    two decimals, misplaced thousands separators and anything that is not a number.
    """
    if isinstance(value, bool):
        raise InvalidAmount("amount must be a number such as 20 or 20.50")
    if isinstance(value, int):
        text = str(value)
    elif isinstance(value, float):
        text = repr(value)
    elif isinstance(value, Decimal):
        text = format(value, "f")
    elif isinstance(value, str):
        text = value.strip()
    else:
        raise InvalidAmount("amount must be a number such as 20 or 20.50")

    if text.startswith("-") or text.startswith("$-"):
        raise InvalidAmount("amount must be positive")
    match = _AMOUNT_RE.match(text)
    if not match or (match.group("int") is None and match.group("frac") is None):
        raise InvalidAmount(
            "amount must be a number with at most two decimals, such as 20 or 20.50"
        )
    digits = (match.group("int") or "0").replace(",", "")
    frac = match.group("frac") or ""
    try:
        amount = Decimal(f"{digits}.{frac or '0'}").quantize(CENT)
    except InvalidOperation as exc:  # pragma: no cover - the regex admits only digits
        raise InvalidAmount("amount is not a number") from exc
    if amount <= 0:
        raise InvalidAmount("amount must be more than zero")
    if amount > MAX_AMOUNT:
        raise InvalidAmount(f"amount must be at most {format_amount(MAX_AMOUNT)}")
    return amount


def format_amount(amount: Decimal) -> str:
    """`Decimal("20")` -> `"20.00"`: the JSON form of an amount."""
    return f"{amount.quantize(CENT):f}"


def format_money(amount: Decimal, currency: str = "USD") -> str:
    """`Decimal("1000")` -> `"$1,000.00"`: the form customers read in messages."""
    symbol = _CURRENCY_SYMBOLS.get(currency.upper())
    text = f"{amount.quantize(CENT):,.2f}"
    return f"{symbol}{text}" if symbol else f"{text} {currency.upper()}"


def to_minor(amount: Decimal) -> int:
    """Dollars to integer cents, refusing anything finer than a cent."""
    cents = amount * 100
    if cents != cents.to_integral_value():
        raise InvalidAmount("amount has more than two decimals")
    return int(cents)


def from_minor(minor: int) -> Decimal:
    """Integer cents to a two-place Decimal."""
    return (Decimal(minor) / 100).quantize(CENT)
