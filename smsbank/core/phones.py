"""Phone numbers: the one home for E.164 normalisation and masking."""

from __future__ import annotations

import re

import phonenumbers
from phonenumbers.phonemetadata import PhoneMetadata

MAX_PHONE_INPUT = 40
# Every country the phone library knows, by ISO code ("US", "GB"...).
KNOWN_REGIONS = frozenset(phonenumbers.SUPPORTED_REGIONS)


class InvalidPhone(ValueError):
    """The text is not a valid phone number."""


def normalize_phone(text: object, default_region: str = "US") -> str:
    """Turn any common way of writing a number into E.164 (`+15551234567`).

    "(555) 123-4567", "555.123.4567" and "+1 555 123 4567" all give the same result;
    a number without a country code is read in `default_region`.
    """
    if not isinstance(text, str) or not text.strip():
        raise InvalidPhone("phone number is required, for example +15551234567")
    cleaned = text.strip()
    if len(cleaned) > MAX_PHONE_INPUT or any(ord(ch) < 32 for ch in cleaned):
        raise InvalidPhone("phone number is not valid; write it as +15551234567")
    if any(ch.isalpha() for ch in cleaned):
        # phonenumbers reads letters as keypad digits (1-800-FLOWERS), so the letter O
        # typed for a zero would silently become another person's number, and that
        # person would get the customer's codes and messages.
        raise InvalidPhone("phone number is not valid; write it with digits, as +15551234567")
    try:
        parsed = phonenumbers.parse(cleaned, None if cleaned.startswith("+") else default_region)
    except phonenumbers.NumberParseException as exc:
        raise InvalidPhone("phone number is not valid; write it as +15551234567") from exc
    # Possible (right length for its country) rather than valid: the 555 numbers used in
    # documentation and tests are not assigned, yet the spec's own examples use them.
    if not phonenumbers.is_possible_number(parsed):
        raise InvalidPhone("phone number is not valid; write it as +15551234567")
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)


def is_e164(text: str) -> bool:
    """True when `text` is already a valid number written in E.164."""
    try:
        return text.startswith("+") and normalize_phone(text) == text
    except InvalidPhone:
        return False


def mask_phone(phone: str | None) -> str:
    """`+15551234567` -> `+1•••••••4567`: enough for logs and staff, not for an attacker."""
    if not phone:
        return ""
    if len(phone) <= 6:
        return "•" * len(phone)
    return phone[:2] + "•" * (len(phone) - 6) + phone[-4:]


def _parsed(phone: str) -> phonenumbers.PhoneNumber | None:
    try:
        return phonenumbers.parse(phone, None)
    except phonenumbers.NumberParseException:
        return None


def region_of(phone: str) -> str | None:
    """The country (ISO code) a number in E.164 rings in, or None when it has none.

    A number the library does not know as valid still belongs somewhere: countries
    that share a calling code (+1: the US, Canada, Jamaica, the British Virgin
    Islands...) are told apart by their leading digits (area codes), which is what
    toll fraud relies on; a number matching none of them (the 555 numbers of examples
    and tests) counts as the code's main country.
    """
    parsed = _parsed(phone)
    if parsed is None or parsed.country_code is None:
        return None
    region = phonenumbers.region_code_for_number(parsed)
    if region:
        return region
    national = str(parsed.national_number)
    for candidate in phonenumbers.region_codes_for_country_code(parsed.country_code):
        metadata = PhoneMetadata.metadata_for_region(candidate)
        leading = metadata.leading_digits if metadata else None
        if leading and re.match(leading, national):
            return candidate
    main = phonenumbers.region_code_for_country_code(parsed.country_code)
    return main if main in KNOWN_REGIONS else None


def is_premium_rate(phone: str) -> bool:
    """A premium-rate number: calling or texting it earns its owner money."""
    parsed = _parsed(phone)
    return parsed is not None and (
        phonenumbers.number_type(parsed) == phonenumbers.PhoneNumberType.PREMIUM_RATE
    )
