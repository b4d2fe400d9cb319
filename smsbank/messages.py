"""Every text the bank sends a customer, and the words its calls say, in one place.

Each function renders one message in the customer's language (`smsbank.i18n`): the
English here is the msgid, the catalogs hold the translations.

Rules the tests hold every SMS to, in every language and with the worst inputs
(tests/test_messages.py): it starts with the bank's name; it is GSM-7 (`smsbank.gsm7`:
names and words are transliterated here, never where they are stored); it fits its
budget, one segment for a reply, a code or a notice, two for a text with a link, HELP
or HISTORY; it ends with punctuation or with its link; a code is the only standalone
6-digit number in its SMS; a link is whole, and the text says how long it is valid. An
account or a phone number is named by its last four digits ("ending 1234"), never
masked with bullets, which GSM-7 does not have.

Spoken words (calls) keep every accent: they are not billed by the character.
"""

from __future__ import annotations

import functools
from datetime import datetime
from decimal import Decimal

from smsbank.gsm7 import SINGLE_GSM7, septets, to_gsm7
from smsbank.i18n import (
    N_,
    Moment,
    Text,
    Writing,
    localize,
    month_name,
    render,
    render_counted,
)
from smsbank.money import format_money

BANK = "SMS Bank"
PREFIX = f"{BANK}: "
ELLIPSIS = "..."


# --- how a text is put together --------------------------------------------------------


# Texts are written in GSM-7: each translated template once (they are few and fixed,
# and Spanish ones are full of accents to drop), each value as it is filled in.
GSM7 = Writing(template=functools.lru_cache(maxsize=1024)(to_gsm7), value=to_gsm7)


def sms(language: str, msgid: str, /, **values: object) -> str:
    """One SMS: the bank's name, then the msgid in `language` filled with `values`, GSM-7."""
    return PREFIX + render(language, msgid, values, GSM7)


def sms_counted(language: str, singular: str, plural: str, count: int, /, **values: object) -> str:
    """As `sms`, with the singular or plural form chosen by `count` (`{count}`)."""
    return PREFIX + render_counted(language, singular, plural, count, values, GSM7)


def spoken(language: str, msgid: str, /, **values: object) -> str:
    """Words a call says: the msgid in `language`, accents kept."""
    return render(language, msgid, values)


def notice(language: str, sentence: str, next_step: str | None = None) -> str:
    """A sentence decided elsewhere (a `Text`, or a msgid marked `N_`) as an SMS, and
    what to do next (a msgid) when the sentence does not say it."""
    text = as_sentence(localize(sentence, language))
    if next_step:
        text += " " + localize(next_step, language)
    return to_gsm7(PREFIX + text)


# What to do after a refusal whose own words do not say it, by the error's code.
RETRY_WITHDRAWAL = N_("To try again, text W and the amount.")
RETRY_PHONE_CHANGE = N_("To try again, text PHONE and the new number.")
SEE_BALANCE = N_("Text BAL for your balance.")
NEXT_STEPS = {"insufficient_funds": SEE_BALANCE}


def refusal(language: str, sentence: str, code: str) -> str:
    """A request the bank refused (a domain error), with the next step where needed."""
    return notice(language, sentence, NEXT_STEPS.get(code))


def as_sentence(text: str) -> str:
    """Upper-case start and a full stop: domain messages are written for staff too."""
    text = text.strip()
    if not text:
        return text
    text = text[:1].upper() + text[1:]
    return text if text[-1] in ".!?" else text + "."


def minutes(count: int) -> Text:
    """ "5 minutes", in whichever language it is rendered."""
    return Text.counted("{count} minute", "{count} minutes", count)


def minutes_in(seconds: int) -> Text:
    """A validity in whole minutes, rounded down: a text never promises more time."""
    return minutes(max(seconds // 60, 1))


def ending(number: str) -> str:
    """The last four digits that name an account or a phone number in a text."""
    return number[-4:]


def _money(amount: Decimal, currency: str) -> str:
    return format_money(amount, currency)


# --- withdrawals -----------------------------------------------------------------------


def withdrawal_code(
    language: str, code: str, amount: Decimal, currency: str, account_number: str, ttl: int
) -> str:
    return sms(
        language,
        "{code} is your code to withdraw {amount} from account ending {account}. "
        "It expires in {minutes}. Never share it.",
        code=code,
        amount=_money(amount, currency),
        account=ending(account_number),
        minutes=minutes_in(ttl),
    )


def withdrawal_capture_link(
    language: str, url: str, amount: Decimal, currency: str, ttl: int
) -> str:
    return sms(
        language,
        "Code accepted. To approve your withdrawal of {amount}, take a selfie here "
        "(valid {minutes}): {url}",
        amount=_money(amount, currency),
        minutes=minutes_in(ttl),
        url=url,
    )


def withdrawal_completed(
    language: str, amount: Decimal, currency: str, reference: str, balance: Decimal
) -> str:
    return sms(
        language,
        "Your withdrawal of {amount} is approved. Ref {reference}. New balance: {balance}.",
        amount=_money(amount, currency),
        reference=reference,
        balance=_money(balance, currency),
    )


def withdrawal_failed(
    language: str, amount: Decimal, currency: str, reason: str, next_step: str | None
) -> str:
    """`reason` is a sentence (a `Text`); `next_step` a msgid such as `RETRY_WITHDRAWAL`,
    or None when the reason itself says what to do ("Please visit your branch")."""
    return _with_next_step(
        language,
        sms(
            language,
            "Withdrawal of {amount} not approved. {reason}",
            amount=_money(amount, currency),
            reason=as_sentence(localize(reason, language)),
        ),
        next_step,
    )


def _with_next_step(language: str, text: str, next_step: str | None) -> str:
    return to_gsm7(f"{text} {localize(next_step, language)}") if next_step else text


def withdrawal_cancelled(language: str, amount: Decimal, currency: str) -> str:
    return sms(
        language,
        "Your withdrawal of {amount} is cancelled. Nothing was taken from your account.",
        amount=_money(amount, currency),
    )


# --- phone-number changes --------------------------------------------------------------


def phone_change_code(language: str, code: str, account_number: str, ttl: int) -> str:
    return sms(
        language,
        "{code} is your code to move account ending {account} to this phone. Send it to "
        "us from your current phone. It expires in {minutes}. Never share it.",
        code=code,
        account=ending(account_number),
        minutes=minutes_in(ttl),
    )


def phone_change_code_sent(language: str, new_phone: str) -> str:
    return sms(
        language,
        "We sent a code to the number ending {phone}. Reply here with that code to "
        "confirm the change, or ABORT to cancel.",
        phone=ending(new_phone),
    )


def phone_change_capture_link(language: str, url: str, ttl: int) -> str:
    return sms(
        language,
        "Code accepted. To confirm your new number, take a selfie here (valid {minutes}): {url}",
        minutes=minutes_in(ttl),
        url=url,
    )


def phone_change_code_at_branch(language: str, code: str, account_number: str, ttl: int) -> str:
    return sms(
        language,
        "{code} is your code to move account ending {account} to this phone. Give it only "
        "to the staff at your branch. It expires in {minutes}.",
        code=code,
        account=ending(account_number),
        minutes=minutes_in(ttl),
    )


def phone_change_started_at_branch(language: str, new_phone: str) -> str:
    return sms(
        language,
        "A change of your number to the number ending {phone} was started at a branch. "
        "If this was not you, text ABORT now.",
        phone=ending(new_phone),
    )


def phone_changed_old(language: str, new_phone: str, paused_hours: int) -> str:
    text = sms(
        language,
        "Your number was changed to the number ending {phone}. If this was not you, "
        "call your branch now.",
        phone=ending(new_phone),
    )
    return _with_pause(language, text, paused_hours)


def phone_changed_new(language: str, paused_hours: int) -> str:
    text = sms(language, "This is now your banking number. Text HELP for the commands.")
    return _with_pause(language, text, paused_hours)


def face_changed(language: str, paused_hours: int) -> str:
    text = sms(
        language,
        "Your face was changed at a branch. If this was not you, call your branch now.",
    )
    return _with_pause(language, text, paused_hours)


def _with_pause(language: str, text: str, hours: int) -> str:
    """What a change notice adds about the cooling-off (nothing when there is none)."""
    if hours <= 0:
        return text
    paused = Text.counted(
        "Withdrawals are paused for {count} hour.",
        "Withdrawals are paused for {count} hours.",
        hours,
    )
    return to_gsm7(f"{text} {localize(paused, language)}")


def withdrawals_paused(until: datetime) -> Text:
    """Why a withdrawal is refused during the cooling-off (a refusal, said in the
    customer's language where it is texted)."""
    return Text(
        "Withdrawals are paused until {until} after a change of your number or face. "
        "If this was not you, call your branch.",
        until=Moment(until),
    )


def codes_locked(language: str) -> str:
    return sms(
        language,
        "Too many wrong codes in 24 hours. Withdrawals and number changes by text are "
        "locked: please visit your branch to unlock them.",
    )


def codes_locked_refusal() -> Text:
    return Text(
        "Withdrawals and number changes by text are locked after too many wrong codes. "
        "Please visit your branch to unlock them."
    )


def phone_change_failed(language: str, reason: str, next_step: str | None) -> str:
    text = sms(
        language,
        "Your number was not changed. {reason}",
        reason=as_sentence(localize(reason, language)),
    )
    return _with_next_step(language, text, next_step)


def phone_change_cancelled(language: str, new_phone: str) -> str:
    return sms(
        language,
        "The change to the number ending {phone} is cancelled. Your number stays as it was.",
        phone=ending(new_phone),
    )


# --- enrolment, calls ------------------------------------------------------------------


def enrolment_link(language: str, url: str, ttl: int) -> str:
    return sms(
        language,
        "To enrol your face for withdrawals, take a selfie here (valid {minutes}): {url}",
        minutes=minutes_in(ttl),
        url=url,
    )


def calls_busy() -> Text:
    """Why CALL is refused when the bank's hourly calls are used up (a refusal)."""
    return Text(
        "We cannot call right now. Use the code we texted you, or try CALL again in an hour."
    )


def country_not_served(countries: list[str]) -> Text:
    return Text(
        "We can only text and call numbers in {countries}, and that number is not one of them.",
        countries=", ".join(countries),
    )


def premium_rate_number() -> Text:
    return Text("That is a premium-rate number: we never text or call those.")


def calling_with_code(language: str) -> str:
    return sms(language, "We are calling you now with a new code. Reply here with it.")


def calling_new_phone_with_code(language: str, new_phone: str) -> str:
    return sms(
        language,
        "We are calling the number ending {phone} now with a new code. Reply here with "
        "it from this phone.",
        phone=ending(new_phone),
    )


# --- the conversation's own replies (smsbank.sms.one_message_path) ------------------------------


HELP = N_(
    "BAL balance, ME your details, HISTORY last 5, W 20 withdraw 20, PHONE +15551234567 "
    "change number, ABORT cancel, CALL code by phone, ESPANOL en espanol. STOP to opt out."
)


def help_text(language: str) -> str:
    return sms(language, HELP)


def language_set(language: str) -> str:
    """The switch confirmed, in the language just chosen."""
    if language == "es":
        return sms(
            language,
            "From now on we will write to you in Spanish. Text ENGLISH for English.",
        )
    return sms(language, "From now on we will write to you in English. Text ESPANOL for Spanish.")


def unregistered_number(language: str) -> str:
    return sms(
        language,
        "This phone number is not registered with us. To open an account or add this "
        "number, please visit a branch.",
    )


def balance(language: str, amount: Decimal, currency: str, account_number: str) -> str:
    return sms(
        language,
        "The balance of account ending {account} is {amount}.",
        account=ending(account_number),
        amount=_money(amount, currency),
    )


def profile(language: str, name: str, account_number: str, phone: str, face_enrolled: bool) -> str:
    """ME: the name is shortened when a long one would take the text past one segment."""
    face = N_("yes") if face_enrolled else N_("no (ask your branch for an enrolment link)")
    msgid = N_("{name}, account ending {account}, phone ending {phone}, face enrolled: {face}.")
    values = {"account": ending(account_number), "phone": ending(phone), "face": Text(face)}
    name = to_gsm7(name)
    text = sms(language, msgid, name=name, **values)
    if septets(text) <= SINGLE_GSM7:
        return text
    room = SINGLE_GSM7 - septets(sms(language, msgid, name="", **values))
    return sms(language, msgid, name=_fit(name, room), **values)


def _fit(text: str, room: int) -> str:
    """`text` cut (with "...") to at most `room` septets."""
    if septets(text) <= room:
        return text
    kept = ""
    for char in text:
        if septets(kept + char) > room - len(ELLIPSIS):
            break
        kept += char
    return kept.rstrip() + ELLIPSIS


def history(language: str, lines: list[str], balance: Decimal, currency: str) -> str:
    if not lines:
        return sms(language, "No transactions yet.")
    return sms_counted(
        language,
        "Your last transaction:\n{lines}\nBalance: {balance}.",
        "Your last {count} transactions:\n{lines}\nBalance: {balance}.",
        len(lines),
        lines="\n".join(lines),
        balance=_money(balance, currency),
    )


def history_line(
    language: str, day: int, month: int, kind: str, amount: Decimal, currency: str, reference: str
) -> str:
    sign = "-" if kind == "withdrawal" else "+"
    day_month = f"{day:02d} {month_name(language, month, 'abbreviated')}"
    return f"{day_month} {sign}{_money(amount, currency)} {reference}"


# --- voice -----------------------------------------------------------------------------


def voice_code(language: str, code: str) -> str:
    """What a call reads: the digits one by one, twice."""
    spaced = ", ".join(code)
    return spoken(
        language,
        "Your SMS Bank code is {digits}. Again, your code is {digits}. Never share it.",
        digits=spaced,
    )


def voice_menu(language: str) -> str:
    return spoken(
        language,
        "Welcome to SMS Bank. For your balance, press 1. For your last transactions, "
        "press 2. For a new code for your pending request, press 3.",
    )


def voice_not_registered(language: str) -> str:
    return spoken(
        language,
        "This phone number is not registered with SMS Bank. Please visit a branch to "
        "open an account. Goodbye.",
    )


def voice_no_choice(language: str) -> str:
    return spoken(language, "We did not get a choice. Goodbye.")


def voice_menu_again(language: str) -> str:
    return spoken(language, "For anything else, press 1, 2 or 3. Or hang up.")


def voice_goodbye(language: str) -> str:
    return spoken(language, "Goodbye.")


def voice_not_a_choice(language: str) -> str:
    return spoken(language, "Sorry, that is not one of the choices.")


def voice_balance(language: str, amount: Decimal, currency: str) -> str:
    return spoken(language, "Your balance is {amount}.", amount=_money(amount, currency))


def voice_history(
    language: str, entries: list[tuple[str, Decimal, int, int]], currency: str
) -> list[str]:
    """What option 2 says: each entry is (kind, amount, day, month)."""
    if not entries:
        return [spoken(language, "You have no transactions yet.")]
    said = [
        render_counted(
            language,
            "Your last transaction.",
            "Your last {count} transactions.",
            len(entries),
            {},
        )
    ]
    for kind, amount, day, month in entries:
        msgid = (
            N_("Withdrawal of {amount} on {month} {day}.")
            if kind == "withdrawal"
            else N_("Deposit of {amount} on {month} {day}.")
        )
        said.append(
            spoken(
                language,
                msgid,
                amount=_money(amount, currency),
                day=day,
                month=month_name(language, month, "wide"),
            )
        )
    return said


def voice_callback_menu(language: str) -> str:
    return spoken(
        language,
        "This is SMS Bank calling you back. For your balance, press 1. For your last "
        "transactions, press 2. For a new code for your pending request, press 3.",
    )


def voice_calling_back(language: str) -> str:
    return spoken(
        language,
        "Welcome to SMS Bank. For your security we read nothing private on a call we "
        "cannot verify. If this number is registered with us, we will call it back in a "
        "moment. You can also text us. Goodbye.",
    )


def voice_menu_unavailable(language: str) -> str:
    return spoken(
        language,
        "Sorry, SMS Bank cannot read your account on this call. Please call again, or "
        "text us. Goodbye.",
    )


def voice_calling_new_number(language: str) -> str:
    return spoken(
        language,
        "We are calling your new number now with the code. Text it to us from this phone.",
    )


def voice_no_code_waiting(language: str) -> str:
    return spoken(language, "You have no request waiting for a code.")


def voice_notice(language: str, sentence: str) -> str:
    """A sentence decided elsewhere (a `Text`), said on a call."""
    return as_sentence(localize(sentence, language))
