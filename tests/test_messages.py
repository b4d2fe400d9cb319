"""Every text the bank sends, in every language, with the worst inputs a text can meet,
held to the rules of its wording (SPEC §4, §4a) rather than to whole strings: it
starts with the bank's name, it is GSM-7, it fits its segment budget, it ends a
sentence (or with its link), a code is the only standalone 6-digit number in its SMS,
a link is whole and the text says how long it is valid."""

from __future__ import annotations

import inspect
import re
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal

import pytest

from smsbank.core import ledger
from smsbank.core.errors import LimitExceeded
from smsbank.core.ledger import Limits
from smsbank.core.money import MAX_AMOUNT, to_minor
from smsbank.faces import challenge_answers, selfies
from smsbank.requests import lifecycle as request_lifecycle
from smsbank.requests import phone_changes, withdrawals
from smsbank.texts import messages
from smsbank.texts.gsm7 import is_gsm7, segments
from smsbank.texts.i18n import LANGUAGES, Text, localize

# Worst cases. A public URL of 40 characters, and a link in its short form.
BASE_URL = "https://sms-bank.example-long-domain.com"
assert len(BASE_URL) == 40
LINK = f"{BASE_URL}/c/{secrets.token_urlsafe(16)}"
# The names a text may meet: accents outside GSM-7, and the longest name staff can save
# (200 characters, extension characters counting two septets each).
NAMES = ["Zoë Łukasiewicz-Núñez Þórsdóttir", ("Zoë [Łukasiewicz] {Núñez} " * 8)[:200]]
# The largest amount the bank takes, and a balance past ten billion: no retail account
# holds more. A currency without a symbol ("1,000,000,000.00 CHF") is the longest; the
# euro sign counts two septets.
AMOUNT, BALANCE = MAX_AMOUNT, Decimal("9999999999.99")
CURRENCIES = ["CHF", "EUR", "USD", "NGN"]
ACCOUNT, PHONE, CODE, REFERENCE = "4929871230", "+447911123456", "123456", "W-8F3K2Q"
# Validity in seconds: the defaults (a code 5 minutes, a link 10) and long ones.
TTLS = [300, 600, 60 * 99]

REPLY, LINK_TEXT, LONG = 1, 2, 2  # SPEC §4a budgets, in segments


@dataclass(frozen=True)
class Sample:
    """One text as sent, and what it must obey."""

    name: str
    text: str
    budget: int
    code: str | None = None
    link: str | None = None
    valid_for: int | None = None  # seconds the link is valid, to be said in the text


def _limits() -> list[str]:
    """The limit refusals, at the worst amounts."""
    limits = Limits(AMOUNT, AMOUNT, "CHF")
    reasons = [ledger._over_daily_limit(to_minor(AMOUNT), limits).message]
    try:
        ledger._check_single_limit(AMOUNT * 2, limits)
    except LimitExceeded as exc:
        reasons.append(exc.message)
    return reasons


def _failures(retry: str) -> list[tuple[str, str | None]]:
    """Why a request fails after it started, with the next step the text then gives
    (`retry`, or none where the reason says it: a branch, a limit)."""
    return [
        (selfies.NO_MATCH_REASON, retry),
        (selfies.NO_MATCH_REASON, None),  # and selfie checks got locked meanwhile
        (challenge_answers.LIVENESS_REASON, retry),
        (selfies.LOCKED_REASON, None),
        (selfies.ACCOUNT_LOCKED_REASON, None),
        (withdrawals.TOO_MANY_WRONG_CODES, retry),
        (ledger.NOT_ENOUGH_MONEY, messages.SEE_BALANCE),
        (phone_changes.NUMBER_TAKEN_MEANWHILE, retry),
        *[(limit, None) for limit in _limits()],
    ]


def _reasons() -> list[str]:
    return [reason for reason, _ in _failures(messages.RETRY_WITHDRAWAL)]


def samples(language: str) -> list[Sample]:
    """Every template the bank texts, each with every worst input it takes."""
    m = messages
    out: list[Sample] = []
    for currency in CURRENCIES:
        for ttl in TTLS:
            out.append(
                Sample(
                    "withdrawal_code",
                    m.withdrawal_code(language, CODE, AMOUNT, currency, ACCOUNT, ttl),
                    REPLY,
                    code=CODE,
                )
            )
            out.append(
                Sample(
                    "withdrawal_capture_link",
                    m.withdrawal_capture_link(language, LINK, AMOUNT, currency, ttl),
                    LINK_TEXT,
                    link=LINK,
                    valid_for=ttl,
                )
            )
        out.append(
            Sample(
                "withdrawal_completed",
                m.withdrawal_completed(language, AMOUNT, currency, REFERENCE, BALANCE),
                REPLY,
            )
        )
        out.append(
            Sample(
                "withdrawal_cancelled", m.withdrawal_cancelled(language, AMOUNT, currency), REPLY
            )
        )
        out.append(
            Sample("balance", m.balance(language, BALANCE, currency, ACCOUNT), REPLY),
        )
        for reason, step in _failures(m.RETRY_WITHDRAWAL):
            out.append(
                Sample(
                    "withdrawal_failed",
                    m.withdrawal_failed(language, AMOUNT, currency, reason, step),
                    REPLY,
                )
            )
        lines = [
            m.history_line(language, 28, 9, kind, AMOUNT, currency, REFERENCE)
            for kind in ("withdrawal", "deposit", "withdrawal", "deposit", "withdrawal")
        ]
        for count in (1, 5):
            out.append(
                Sample("history", m.history(language, lines[:count], BALANCE, currency), LONG)
            )
    out.append(Sample("history", m.history(language, [], BALANCE, "USD"), LONG))
    for ttl in TTLS:
        out.append(
            Sample(
                "phone_change_code",
                m.phone_change_code(language, CODE, ACCOUNT, ttl),
                REPLY,
                code=CODE,
            )
        )
        out.append(
            Sample(
                "phone_change_capture_link",
                m.phone_change_capture_link(language, LINK, ttl),
                LINK_TEXT,
                link=LINK,
                valid_for=ttl,
            )
        )
        out.append(
            Sample(
                "enrolment_link",
                m.enrolment_link(language, LINK, ttl),
                LINK_TEXT,
                link=LINK,
                valid_for=ttl,
            )
        )
    for reason, step in _failures(m.RETRY_PHONE_CHANGE):
        out.append(
            Sample("phone_change_failed", m.phone_change_failed(language, reason, step), REPLY)
        )
    for name in NAMES:
        for enrolled in (True, False):
            out.append(
                Sample("profile", m.profile(language, name, ACCOUNT, PHONE, enrolled), REPLY)
            )
    for hours in (0, 1, 24, 999):  # the cooling-off a change notice announces, if any
        out += [
            Sample("phone_changed_old", m.phone_changed_old(language, PHONE, hours), REPLY),
            Sample("phone_changed_new", m.phone_changed_new(language, hours), REPLY),
            Sample("face_changed", m.face_changed(language, hours), REPLY),
        ]
    for ttl in TTLS:
        out.append(
            Sample(
                "phone_change_code_at_branch",
                m.phone_change_code_at_branch(language, CODE, ACCOUNT, ttl),
                REPLY,
                code=CODE,
            )
        )
    out += [
        Sample("phone_change_code_sent", m.phone_change_code_sent(language, PHONE), REPLY),
        Sample(
            "phone_change_started_at_branch",
            m.phone_change_started_at_branch(language, PHONE),
            REPLY,
        ),
        Sample("codes_locked", m.codes_locked(language), REPLY),
        Sample("phone_change_cancelled", m.phone_change_cancelled(language, PHONE), REPLY),
        Sample("calling_with_code", m.calling_with_code(language), REPLY),
        Sample(
            "calling_new_phone_with_code", m.calling_new_phone_with_code(language, PHONE), REPLY
        ),
        Sample("help_text", m.help_text(language), LONG),
        Sample("unregistered_number", m.unregistered_number(language), REPLY),
        Sample("language_set", m.language_set(language), REPLY),
    ]
    return out


def notices(language: str) -> list[Sample]:
    """What the conversation answers with a sentence decided elsewhere: refusals and
    the outcomes of a code (tests/test_conversation.py walks the table's own replies)."""
    sentences: list[str] = [*_reasons()]
    for kind in (withdrawals.KIND, phone_changes.KIND):
        sentences += [
            Text(kind.gone),
            Text(kind.code_used),
            Text(kind.not_awaiting_code),
            Text(kind.locked_out),
            Text(kind.finished, status=Text("cancelled")),
        ]
    sentences += [
        request_lifecycle.ACCOUNT_LOCKED,
        request_lifecycle.FACE_LOCKED,
        messages.withdrawals_paused(datetime(2026, 12, 28, 23, 59, tzinfo=UTC)),
        messages.codes_locked_refusal(),
        messages.calls_busy(),
        messages.premium_rate_number(),
        messages.country_not_served(["CA", "GB", "MX", "US"]),
        Text.counted(
            "Too many codes requested. Please try again in {count} minute.",
            "Too many codes requested. Please try again in {count} minutes.",
            10,
        ),
        Text.counted(
            "That code is not right. You have {count} try left.",
            "That code is not right. You have {count} tries left.",
            4,
        ),
    ]
    codes: dict[str, str] = {
        ledger.NOT_ENOUGH_MONEY: "insufficient_funds"
    }  # the one with a next step
    return [
        Sample("refusal", messages.refusal(language, sentence, codes.get(sentence, "")), REPLY)
        for sentence in sentences
    ]


EVERY = [(language, sample) for language in LANGUAGES for sample in samples(language)]
EVERY += [(language, sample) for language in LANGUAGES for sample in notices(language)]
STANDALONE_CODE = re.compile(r"(?<!\d)\d{6}(?!\d)")


@pytest.mark.parametrize(("language", "sample"), EVERY, ids=[s.name for _, s in EVERY])
def test_every_text_follows_the_rules(language: str, sample: Sample) -> None:
    text = sample.text
    assert text.startswith("SMS Bank: "), text
    assert text[len("SMS Bank: ")].isupper() or text[len("SMS Bank: ")].isdigit(), text
    assert is_gsm7(text), text
    assert segments(text).segments <= sample.budget, (segments(text), text)
    assert "••" not in text and "  " not in text, text
    if sample.link:
        assert text.count(sample.link) == 1, "the whole link, once"
        assert text.endswith(sample.link) or text.rstrip()[-1] in ".!?", text
    else:
        assert text.rstrip()[-1] in ".!?", text
    if sample.valid_for is not None:
        assert localize(messages.minutes_in(sample.valid_for), language) in text, text
    if sample.code:
        assert STANDALONE_CODE.findall(text) == [sample.code], text
    else:
        assert not STANDALONE_CODE.findall(text), text


def test_every_template_is_sampled() -> None:
    """A text added to smsbank.texts.messages is held to the rules by adding it above."""
    sampled = {sample.name for sample in samples("en")}
    helpers = {
        # Refusals: sentences (Text), texted as notices, sampled in notices() above.
        "withdrawals_paused",
        "codes_locked_refusal",
        "calls_busy",
        "premium_rate_number",
        "country_not_served",
        "sms",
        "sms_counted",
        "spoken",
        "notice",
        "refusal",
        "as_sentence",
        "minutes",
        "minutes_in",
        "ending",
        "history_line",
    }
    templates = {
        name
        for name, value in vars(messages).items()
        if inspect.isfunction(value)
        and value.__module__ == messages.__name__
        and not name.startswith(("_", "voice_"))
        and name not in helpers
    }
    assert templates == sampled


def test_spanish_texts_are_translated_and_english_ones_are_not() -> None:
    for english, spanish in zip(samples("en"), samples("es"), strict=True):
        assert english.name == spanish.name
        assert english.text != spanish.text, english.text
        assert "Your" not in spanish.text and "Su " not in english.text


def test_a_long_name_is_shortened_never_the_rest_of_the_text() -> None:
    for language in LANGUAGES:
        short = messages.profile(language, NAMES[0], ACCOUNT, PHONE, False)
        assert "Zoe Lukasiewicz-Nuñez Thorsdottir," in short
        long = messages.profile(language, NAMES[1], ACCOUNT, PHONE, False)
        assert "..." in long and long.endswith(short.split(",", 1)[1])


def test_stored_names_keep_their_letters() -> None:
    """Transliteration is for the text only: the name passed in is left as it was."""
    name = NAMES[0]
    messages.profile("en", name, ACCOUNT, PHONE, True)
    assert name == "Zoë Łukasiewicz-Núñez Þórsdóttir"


@pytest.mark.parametrize("language", LANGUAGES)
def test_a_whole_withdrawal_costs_at_most_four_segments(language: str) -> None:
    """Code, link, approval: the worst case the budget of SPEC §4a is about (the webhook
    test tests/webhooks/test_sms_texts.py counts the texts a real withdrawal sends)."""
    worst = 0
    for currency in CURRENCIES:
        texts = [
            messages.withdrawal_code(language, CODE, AMOUNT, currency, ACCOUNT, 300),
            messages.withdrawal_capture_link(language, LINK, AMOUNT, currency, 600),
            messages.withdrawal_completed(language, AMOUNT, currency, REFERENCE, BALANCE),
        ]
        worst = max(worst, sum(segments(text).segments for text in texts))
    assert worst <= 4


def test_a_minute_and_minutes() -> None:
    assert localize(messages.minutes_in(60), "en") == "1 minute"
    assert localize(messages.minutes_in(600), "en") == "10 minutes"
    assert localize(messages.minutes_in(90), "es") == "1 minuto"  # rounded down, never up
    assert localize(messages.minutes_in(300), "es") == "5 minutos"


def test_history_counts_its_lines_in_the_right_number() -> None:
    line = messages.history_line("en", 5, 3, "withdrawal", Decimal(20), "USD", REFERENCE)
    one = messages.history("en", [line], Decimal(80), "USD")
    two = messages.history("en", [line, line], Decimal(80), "USD")
    assert "Your last transaction:" in one and "transactions" not in one
    assert "Your last 2 transactions:" in two
    assert "05 Mar -$20.00 W-8F3K2Q" in one and one.endswith("Balance: $80.00.")
    spanish = messages.history(
        "es",
        [messages.history_line("es", 5, 3, "deposit", Decimal(20), "USD", REFERENCE)],
        Decimal(80),
        "USD",
    )
    assert "Su ultimo movimiento:" in spanish and "05 mar +$20.00" in spanish
