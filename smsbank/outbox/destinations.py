"""Where the bank may send a text or place a call: its allowed countries, never a
premium-rate number.

Why: SMS pumping and toll fraud turn a bank's own messages into someone else's income.
A fraudster texts the bank from (or asks it to text or call) numbers they are paid for
terminating, in a country where that pays, or on a premium-rate line, and the bank pays
for every message and minute. The bank serves its own country's customers, so it
sends nothing anywhere else (`SMSBANK_ALLOWED_COUNTRIES`), and nothing, anywhere, to a
number whose owner earns from it.
"""

from __future__ import annotations

from smsbank.core.errors import ValidationFailed
from smsbank.core.phones import is_premium_rate, region_of
from smsbank.core.settings import Settings
from smsbank.texts import messages


def refusal(settings: Settings, phone: str) -> str | None:
    """Why the bank must not text or call `phone` (a sentence for the customer), or None."""
    if is_premium_rate(phone):
        return messages.premium_rate_number()
    if region_of(phone) not in settings.allowed_regions:
        return messages.country_not_served(sorted(settings.allowed_regions))
    return None


def ensure_allowed(settings: Settings, phone: str) -> None:
    """400 `destination_not_allowed` when the bank must not text or call `phone`."""
    reason = refusal(settings, phone)
    if reason is not None:
        raise ValidationFailed(reason, code="destination_not_allowed")
