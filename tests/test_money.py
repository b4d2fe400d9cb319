from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from smsbank.core.money import (
    MAX_AMOUNT,
    InvalidAmount,
    format_amount,
    format_money,
    from_minor,
    parse_amount,
    to_minor,
)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("20", "20.00"),
        ("20.5", "20.50"),
        ("$1,000.00", "1000.00"),
        (" 7.05 ", "7.05"),
        ("0.01", "0.01"),
        (".5", "0.50"),
        ("1,234,567.89", "1234567.89"),
        (20, "20.00"),
        (20.1, "20.10"),
    ],
)
def test_parses_what_people_type(text: object, expected: str) -> None:
    assert format_amount(parse_amount(text)) == expected


@pytest.mark.parametrize(
    "text",
    [
        "-5",
        "$-5",
        "0",
        "0.00",
        "1.005",
        "abc",
        "",
        "20.",
        "1,00",
        "12,34.00",
        "1e3",
        "NaN",
        "Infinity",
        "20 dollars",
        "١٢",  # Arabic-Indic digits are not accepted as money
        None,
        True,
        [],
        -1,
        0.001,
        "1000000000.01",
    ],
)
def test_refuses_what_is_not_money(text: object) -> None:
    with pytest.raises(InvalidAmount):
        parse_amount(text)


def test_formats_for_customers() -> None:
    assert format_money(Decimal("1000"), "USD") == "$1,000.00"
    assert format_money(Decimal("20"), "EUR") == "€20.00"
    assert format_money(Decimal("3.5"), "XOF") == "3.50 XOF"


cents = st.integers(min_value=1, max_value=to_minor(MAX_AMOUNT))


@given(cents)
def test_formatted_amount_parses_back_exactly(minor: int) -> None:
    amount = from_minor(minor)
    assert to_minor(parse_amount(format_amount(amount))) == minor
    assert to_minor(parse_amount(format_money(amount, "USD"))) == minor


@given(cents)
def test_minor_units_round_trip(minor: int) -> None:
    assert to_minor(from_minor(minor)) == minor


@given(st.text(max_size=30))
def test_any_text_parses_to_a_positive_cent_amount_or_is_refused(text: str) -> None:
    try:
        amount = parse_amount(text)
    except InvalidAmount:
        return
    assert Decimal("0.01") <= amount <= MAX_AMOUNT
    assert amount == amount.quantize(Decimal("0.01"))


@given(st.decimals(min_value=Decimal("-1000"), max_value=Decimal("0"), places=2))
def test_never_accepts_zero_or_negative(value: Decimal) -> None:
    with pytest.raises(InvalidAmount):
        parse_amount(format(value, "f"))
