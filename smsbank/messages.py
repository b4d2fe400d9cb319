"""Every text the bank sends a customer, in one place.

Rules the tests hold us to: a code is the only standalone 6-digit number in its SMS;
a capture link appears whole in its SMS; nothing else secret is ever in a message.
Messages stay within one or two SMS segments.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from smsbank.money import format_money

BANK = "SMS Bank"


def _m(amount: Decimal, currency: str) -> str:
    return format_money(amount, currency)


def withdrawal_code(code: str, amount: Decimal, currency: str, masked_account: str) -> str:
    return (
        f"{code} is your {BANK} code to withdraw {_m(amount, currency)} from {masked_account}. "
        "It expires in 5 minutes. Never share it."
    )


def withdrawal_capture_link(url: str, amount: Decimal, currency: str) -> str:
    return (
        f"{BANK}: code accepted. To approve the withdrawal of {_m(amount, currency)}, "
        f"take a selfie here (valid 10 minutes): {url}"
    )


def withdrawal_completed(amount: Decimal, currency: str, reference: str, balance: Decimal) -> str:
    return (
        f"{BANK}: withdrawal of {_m(amount, currency)} approved. Ref {reference}. "
        f"New balance {_m(balance, currency)}."
    )


def withdrawal_failed(amount: Decimal, currency: str, reason: str) -> str:
    return f"{BANK}: your withdrawal of {_m(amount, currency)} was not approved: {reason}"


def withdrawal_cancelled(amount: Decimal, currency: str) -> str:
    return f"{BANK}: your withdrawal of {_m(amount, currency)} is cancelled."


def phone_change_code(code: str, masked_account: str) -> str:
    return (
        f"{code} is your {BANK} code to move account {masked_account} to this phone. "
        "Reply with it from your current phone. It expires in 5 minutes. Never share it."
    )


def phone_change_code_at_branch(code: str, masked_account: str) -> str:
    return (
        f"{code} is your {BANK} code to move account {masked_account} to this phone. "
        "Give it only to the staff at your branch. It expires in 5 minutes."
    )


def phone_change_started_at_branch(new_phone_masked: str) -> str:
    return (
        f"{BANK}: a change of your number to {new_phone_masked} was started at a branch. "
        "If this was not you, text ABORT now."
    )


def phone_change_code_sent(new_phone_masked: str) -> str:
    return (
        f"{BANK}: we sent a code to {new_phone_masked}. Reply here with that code to "
        "confirm the change, or ABORT to cancel."
    )


def phone_change_capture_link(url: str) -> str:
    return f"{BANK}: code accepted. To confirm your new number, take a selfie here: {url}"


def phone_changed_old(new_phone_masked: str, paused_hours: int) -> str:
    return (
        f"{BANK}: your number was changed to {new_phone_masked}. "
        f"If this was not you, call your branch now.{_paused(paused_hours)}"
    )


def phone_changed_new(paused_hours: int) -> str:
    return f"{BANK}: this is now your banking number. Text HELP for commands." + _paused(
        paused_hours
    )


def _paused(hours: int) -> str:
    """What a change notice adds about the cooling-off (nothing when there is none)."""
    if hours <= 0:
        return ""
    return f" Withdrawals are paused for {hours} hour{'' if hours == 1 else 's'}."


def codes_locked() -> str:
    return (
        f"{BANK}: too many wrong codes in 24 hours. Withdrawals and number changes by "
        "text are locked: please visit your branch to unlock them."
    )


def codes_locked_refusal() -> str:
    return (
        "Withdrawals and number changes by text are locked after too many wrong codes. "
        "Please visit your branch to unlock them."
    )


def moment(when: datetime) -> str:
    """A time as texts give it: "26 Nov 14:05 UTC"."""
    return f"{when:%d %b %H:%M} UTC"


def withdrawals_paused(until: str) -> str:
    return (
        f"Withdrawals are paused until {until} after a change of your number or face. "
        "If this was not you, call your branch."
    )


def phone_change_failed(reason: str) -> str:
    return f"{BANK}: your number was not changed: {reason}"


def enrolment_link(url: str) -> str:
    return f"{BANK}: to enrol your face for withdrawals, take a selfie here: {url}"


def face_changed(paused_hours: int) -> str:
    return (
        f"{BANK}: your face was changed at a branch. If this was not you, call your branch "
        f"now.{_paused(paused_hours)}"
    )


def voice_code(code: str) -> str:
    """What a call reads: the digits one by one, twice."""
    spaced = ", ".join(code)
    return f"Your {BANK} code is {spaced}. Again, your code is {spaced}. Never share it."


# --- SMS conversation replies and voice menu (smsbank.sms_service, webhooks.voice) ---

HELP = (
    f"{BANK}: BAL balance, ME your details, HISTORY last 5, W 20 withdraw $20, "
    "PHONE +15551234567 change number, ABORT cancel, CALL code by phone. STOP to opt out."
)


def unregistered_number() -> str:
    return (
        f"{BANK}: this phone number is not registered with us. "
        "To open an account or add this number, please visit a branch."
    )


def balance(amount: Decimal, currency: str, masked_account: str) -> str:
    return f"{BANK}: the balance of {masked_account} is {_m(amount, currency)}."


def profile(name: str, masked_account: str, masked_phone: str, face_enrolled: bool) -> str:
    face = "yes" if face_enrolled else "no (ask your branch for an enrolment link)"
    return f"{BANK}: {name}, account {masked_account}, phone {masked_phone}, face enrolled: {face}."


def history(lines: list[str]) -> str:
    if not lines:
        return f"{BANK}: no transactions yet."
    return f"{BANK}, last {len(lines)} transactions:\n" + "\n".join(lines)


def history_line(
    day: str, kind: str, amount: Decimal, currency: str, reference: str, after: Decimal
) -> str:
    sign = "-" if kind == "withdrawal" else "+"
    return f"{day} {sign}{_m(amount, currency)} {reference} bal {_m(after, currency)}"


def country_not_served(countries: list[str]) -> str:
    return (
        f"We can only text and call numbers in {', '.join(countries)}, and that number is "
        "not one of them."
    )


def premium_rate_number() -> str:
    return "That is a premium-rate number: we never text or call those."


def calls_busy() -> str:
    return (
        f"{BANK}: we cannot call right now. Use the code we texted you, or try CALL again "
        "in an hour."
    )


def phone_change_cancelled(new_phone_masked: str) -> str:
    return f"{BANK}: the change of your number to {new_phone_masked} is cancelled."


def calling_with_code() -> str:
    return f"{BANK}: we are calling you now with a new code. Reply here with it."


def calling_new_phone_with_code(new_phone_masked: str) -> str:
    return (
        f"{BANK}: we are calling {new_phone_masked} now with a new code. "
        "Reply here with it from this phone."
    )


def voice_menu() -> str:
    return (
        f"Welcome to {BANK}. For your balance, press 1. For your last transactions, "
        "press 2. For a new code for your pending request, press 3."
    )


def voice_not_registered() -> str:
    return (
        f"This phone number is not registered with {BANK}. "
        "Please visit a branch to open an account. Goodbye."
    )


def voice_callback_menu() -> str:
    return (
        f"This is {BANK} calling you back. For your balance, press 1. For your last "
        "transactions, press 2. For a new code for your pending request, press 3."
    )


def voice_calling_back() -> str:
    return (
        f"Welcome to {BANK}. For your security we read nothing private on a call we cannot "
        "verify. If this number is registered with us, we will call it back in a moment. "
        "You can also text us. Goodbye."
    )


def voice_menu_unavailable() -> str:
    return (
        f"Sorry, {BANK} cannot read your account on this call. Please call again, or text "
        "us. Goodbye."
    )
