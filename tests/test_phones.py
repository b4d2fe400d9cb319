import pytest

from smsbank.phones import InvalidPhone, is_e164, mask_phone, normalize_phone


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
