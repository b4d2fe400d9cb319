import pytest

from smsbank.core.phones import (
    InvalidPhone,
    is_e164,
    is_premium_rate,
    mask_phone,
    normalize_phone,
    region_of,
)


@pytest.mark.parametrize(
    "text",
    ["+15557654321", "(555) 765-4321", "555.765.4321", "+1 555 765 4321", "1-555-765-4321"],
)
def test_common_formats_give_e164(text: str) -> None:
    assert normalize_phone(text) == "+15557654321"


def test_other_countries_keep_their_code() -> None:
    assert normalize_phone("+44 7911 123456") == "+447911123456"


@pytest.mark.parametrize(
    "text", ["", "12", "abc", "+999123", "+1555", "5" * 41, "+1555\x007654321", None, 15557654321]
)
def test_malformed_numbers_are_refused(text: object) -> None:
    with pytest.raises(InvalidPhone):
        normalize_phone(text)


def test_masking_keeps_only_the_last_four_digits() -> None:
    masked = mask_phone("+15557654321")
    assert masked.endswith("4321")
    assert "765" not in masked
    assert is_e164("+15557654321")
    assert not is_e164("5557654321")


@pytest.mark.parametrize(
    ("phone", "region"),
    [
        ("+15557654321", "US"),  # not assigned anywhere: the calling code's main country
        ("+14155552671", "US"),
        ("+18762345678", "JM"),  # +1 shared by the Caribbean: told apart by area code
        ("+12842345678", "VG"),  # even where the library does not know the number
        ("+33612345678", "FR"),
    ],
)
def test_the_country_of_a_number(phone: str, region: str) -> None:
    assert region_of(phone) == region


def test_premium_rate_numbers_are_recognised() -> None:
    assert is_premium_rate("+19005551234")
    assert not is_premium_rate("+14155552671")
