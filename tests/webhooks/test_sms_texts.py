"""What customers read, tried as a new customer would, in English and in Spanish, on a
bank set up for the longest texts: a 40-character public URL, a currency without a
symbol, limits that let the largest amount through. Every text is held to the rules
of tests/texts.py; a Spanish text without a translation fails the test by itself (the
catalog's warning is an error in the suite)."""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Any

import pytest

from smsbank.core import ledger
from smsbank.core.models import (
    AuditEvent,
    Customer,
    MessageChannel,
    PhoneChange,
    Withdrawal,
    WithdrawalStatus,
)
from smsbank.core.money import MAX_AMOUNT
from smsbank.core.settings import Settings
from smsbank.requests import phone_changes, withdrawals
from smsbank.texts.gsm7 import segments
from tests.texts import assert_reads_well
from tests.webhooks.handset import Handset, code_in

BASE_URL = "https://sms-bank.example-long-domain.com"
LINK_RE = re.compile(re.escape(BASE_URL) + r"/c/[A-Za-z0-9_\-]{22}$")
NEW_NUMBER = "+15557654321"


@pytest.fixture
def settings(settings: Settings) -> Settings:
    """The test settings, set up for the longest texts a bank can send."""
    assert len(BASE_URL) == 40
    return settings.with_overrides(
        public_base_url=BASE_URL,
        currency="CHF",
        withdrawal_limit=MAX_AMOUNT,
        daily_withdrawal_limit=MAX_AMOUNT,
    )


async def rich_customer(make_customer: Any, language: str, name: str = "Zoë Núñez") -> Customer:
    """Enrolled, with a balance past ten billion (deposits of the largest amount)."""
    customer: Customer = await make_customer(
        name=name, balance=None, language=language, currency="CHF"
    )
    for _ in range(9):
        await ledger.deposit(customer.id, MAX_AMOUNT)
    await ledger.deposit(customer.id, Decimal("999999999.99"))
    await Customer.filter(id=customer.id).update(face_embedding=b"enrolled", face_model="Dlib")
    await customer.refresh_from_db()
    return customer


def phone_of(client: Any, settings: Settings, number: str) -> Handset:
    return Handset(client, settings, number)


@pytest.mark.parametrize("language", ["en", "es"])
async def test_a_whole_withdrawal_of_the_largest_amount_costs_at_most_four_segments(
    client: Any, settings: Settings, make_customer: Any, language: str
) -> None:
    customer = await rich_customer(make_customer, language)
    phone = phone_of(client, settings, customer.phone)
    command = "W 1,000,000,000" if language == "en" else "R 1,000,000,000"

    [code_sms] = await phone.ask(command)
    [link_sms] = await phone.ask(code_in(code_sms))
    withdrawal = await Withdrawal.get(customer_id=customer.id)
    await withdrawals.selfie_verified(settings, withdrawal.id, distance=0.03, actor="capture")
    [approval] = await phone.new()

    await withdrawal.refresh_from_db()
    assert withdrawal.status == WithdrawalStatus.COMPLETED
    assert_reads_well(code_sms)
    assert_reads_well(link_sms, segments_at_most=2)
    assert LINK_RE.search(link_sms), link_sms
    assert_reads_well(approval)
    assert "1,000,000,000.00 CHF" in code_sms and "8,999,999,999.99 CHF" in approval
    total = sum(segments(text).segments for text in (code_sms, link_sms, approval))
    assert total <= 4, (total, code_sms, link_sms, approval)
    spanish = ("codigo", "selfie aqui", "aprobado")
    english = ("code", "selfie here", "approved")
    for text, word in zip(
        (code_sms, link_sms, approval), spanish if language == "es" else english, strict=True
    ):
        assert word in text.lower(), text


@pytest.mark.parametrize("language", ["en", "es"])
async def test_a_number_change_reads_well_in_both_languages(
    client: Any, settings: Settings, make_customer: Any, language: str
) -> None:
    customer = await rich_customer(make_customer, language, name="Zoë Łukasiewicz-Núñez Þórsdóttir")
    old = phone_of(client, settings, customer.phone)
    new = phone_of(client, settings, NEW_NUMBER)
    command = "PHONE" if language == "en" else "TELÉFONO"

    [told] = await old.ask(f"{command} {NEW_NUMBER}")
    [code_sms] = await new.new()
    [link_sms] = await old.ask(code_in(code_sms))
    change = await PhoneChange.get(customer_id=customer.id)
    await phone_changes.selfie_verified(settings, change.id, distance=0.02, actor="capture")
    [old_notice] = await old.new()
    [new_notice] = await new.new()
    [me] = await new.ask("ME" if language == "en" else "DATOS")

    for text in (told, code_sms, old_notice, new_notice, me):
        assert_reads_well(text)
    assert_reads_well(link_sms, segments_at_most=2)
    assert "4321" in told and "4321" in old_notice
    assert "Zoe Lukasiewicz-Nuñez Thorsdottir" in me and "4321" in me
    assert (await Customer.get(id=customer.id)).name == "Zoë Łukasiewicz-Núñez Þórsdóttir"
    ending = "terminado en" if language == "es" else "ending"
    assert ending in told
    # The cooling-off after a number change: announced, then a withdrawal is refused.
    pause = "en pausa" if language == "es" else "paused"
    assert pause in old_notice and pause in new_notice
    [paused] = await new.ask("R 20" if language == "es" else "W 20")
    assert_reads_well(paused)
    assert pause in paused and "UTC" in paused


async def test_espanol_switches_the_language_and_english_switches_it_back(
    client: Any, settings: Settings, make_customer: Any
) -> None:
    customer = await make_customer()
    phone = phone_of(client, settings, customer.phone)

    [switched] = await phone.ask("Español")
    assert "le escribiremos en español" in switched and "ENGLISH" in switched
    assert_reads_well(switched)
    assert (await Customer.get(id=customer.id)).language == "es"
    [balance] = await phone.ask("SALDO")
    assert balance.startswith("SMS Bank: El saldo de la cuenta terminada en")
    [balance_again] = await phone.ask("BAL")  # the English words still work
    assert balance_again == balance
    [hint] = await phone.ask("hola")
    assert "AYUDA" in hint
    [help_text] = await phone.ask("AYUDA")
    assert "SALDO" in help_text and "R 20" in help_text and "ANULAR" in help_text
    assert_reads_well(help_text, segments_at_most=2)

    [back] = await phone.ask("english")
    assert "in English" in back and "ESPANOL" in back
    assert (await Customer.get(id=customer.id)).language == "en"
    events = await AuditEvent.filter(action="customer.language_set", customer_id=customer.id)
    assert [event.details["language"] for event in events] == ["es", "en"]


@pytest.mark.parametrize("language", ["en", "es"])
async def test_amounts_are_read_the_same_in_either_language(
    client: Any, settings: Settings, make_customer: Any, language: str
) -> None:
    """`20,50` is refused for everyone (a comma groups thousands); `1,000` is a thousand."""
    customer = await rich_customer(make_customer, language)
    phone = phone_of(client, settings, customer.phone)
    for text in ("W 20,50", "R 20,50"):
        [refused] = await phone.ask(text)
        assert_reads_well(refused)
        assert ("20.50" in refused) and ("W 20" in refused or "R 20" in refused)
    assert await Withdrawal.all().count() == 0
    [code_sms] = await phone.ask("R 1,000")
    assert "1,000.00 CHF" in code_sms
    [code_sms] = await phone.ask("W20.50")
    assert "20.50 CHF" in code_sms
    [refused] = await phone.ask("W 123456")  # six bare digits: taken for a code
    assert "6" in refused and await Withdrawal.filter(status="awaiting_code").count() == 1


async def test_spanish_refusals_and_failures_say_what_to_do_next(
    client: Any, settings: Settings, make_customer: Any
) -> None:
    customer = await make_customer(language="es")
    phone = phone_of(client, settings, customer.phone)
    [no_face] = await phone.ask("R 20")
    assert "registrar su rostro" in no_face and "sucursal" in no_face
    await Customer.filter(id=customer.id).update(face_embedding=b"enrolled", face_model="Dlib")
    [too_much] = await phone.ask("R 500")
    assert "dinero" in too_much and "SALDO" in too_much
    [nothing] = await phone.ask("ANULAR")
    assert "nada que cancelar" in nothing and "AYUDA" in nothing
    real = code_in((await phone.ask("R 20"))[0])
    wrong = f"{(int(real) + 1) % 1_000_000:06d}"
    answers = [await phone.ask(wrong) for _ in range(5)]
    assert "Le quedan 4 intentos" in answers[0][0]
    assert "Le queda 1 intento." in answers[3][0]
    [failed] = answers[4]
    assert "no aprobado" in failed and "escriba R y el monto" in failed
    for text in (no_face, too_much, nothing, *[a[0] for a in answers]):
        assert_reads_well(text)


async def test_a_call_is_placed_in_the_customers_language(
    client: Any, settings: Settings, make_customer: Any
) -> None:
    customer = await rich_customer(make_customer, "es")
    phone = phone_of(client, settings, customer.phone)
    await phone.ask("R 20")
    [calling] = await phone.ask("LLAMAR")
    assert "Le estamos llamando" in calling
    call = await phone.last_call()
    assert call.channel == MessageChannel.VOICE
    assert call.body.startswith("Su código de SMS Bank es ")  # words of a call keep accents
