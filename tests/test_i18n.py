"""The message catalogs: every msgid the code marks is in the template and has a
translation in every language, with the same placeholders; catalogs are text in the
repository (no compiled .mo) and are compiled once, in memory."""

from __future__ import annotations

import re
import string
import subprocess
import warnings
from pathlib import Path
from typing import Any

import jinja2
import pytest
from babel.messages.pofile import read_po

from smsbank import messages
from smsbank.catalog_tools import POT_PATH, extract
from smsbank.gsm7 import segments
from smsbank.i18n import (
    LANGUAGES,
    SOURCE_LANGUAGE,
    Text,
    UntranslatedText,
    catalog,
    localize,
    po_path,
    render,
    strings,
    translator,
)

PROJECT = Path(__file__).resolve().parent.parent
TRANSLATED = [language for language in LANGUAGES if language != SOURCE_LANGUAGE]
PLACEHOLDER = re.compile(r"\{(\w*)\}")


def ids(messages_of: object) -> set[str | tuple[str, ...]]:
    return {m.id for m in messages_of if m.id}  # type: ignore[attr-defined]


def placeholders(text: Any) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(text) if name is not None}


def test_the_template_lists_every_msgid_the_code_marks() -> None:
    """Fails after a text is added or changed until `smsbank extract-messages` is run."""
    with POT_PATH.open("rb") as handle:
        written = read_po(handle)
    assert ids(written) == ids(extract())


@pytest.mark.parametrize("language", TRANSLATED)
def test_every_msgid_has_a_translation_with_the_same_placeholders(language: str) -> None:
    with POT_PATH.open("rb") as handle:
        template = read_po(handle)
    with po_path(language).open("rb") as handle:
        translations = read_po(handle, locale=language)
    assert translations.num_plurals == 2, "Spanish: one, and everything else"
    for message in template:
        if not message.id:
            continue
        translated = translations.get(message.id)
        assert translated is not None, f"{language}: no entry for {message.id!r}"
        assert not translated.fuzzy, f"{language}: fuzzy (unconfirmed) {message.id!r}"
        forms = translated.string if isinstance(translated.string, tuple) else (translated.string,)
        assert all(forms), f"{language}: untranslated {message.id!r}"
        source = message.id if isinstance(message.id, tuple) else (message.id,)
        wanted = set().union(*(placeholders(text) for text in source))
        for form in forms:
            # A singular form may say "one" in words instead of {count}.
            got = placeholders(form)
            assert got <= wanted and wanted - got <= {"count"}, f"{language}: {form!r}"


# A worst value for each placeholder a msgid may have (tests/test_messages.py has the
# texts with their exact budgets; this holds every catalog entry to the largest one).
WORST_VALUES = {
    "amount": "1,000,000,000.00 CHF",
    "balance": "9,999,999,999.99 CHF",
    "account": "1234",
    "phone": "0100",
    "code": "123456",
    "url": "https://sms-bank.example-long-domain.com/c/" + "A" * 22,
    "minutes": "99 minutes",
    "name": "Zoe Lukasiewicz-Nuñez Thorsdottir",
    "reason": "Too many selfies did not match. Please visit your branch.",
    "hint": "Reply here with the 6-digit code we sent to your new number, CALL for a call.",
    "status": "cancelled",
    "reference": "W-8F3K2Q",
    "face": "no (ask your branch for an enrolment link)",
    "digits": "1, 2, 3, 4, 5, 6",
    "month": "September",
    "day": 28,
    "lines": "\n".join(["28 Sep -1,000,000,000.00 CHF W-8F3K2Q"] * 5),
    "countries": "CA, GB, MX, US",
    "until": "28 Dec 23:59 UTC",
}


@pytest.mark.parametrize("language", LANGUAGES)
def test_no_translation_takes_a_text_past_two_segments(language: str) -> None:
    with POT_PATH.open("rb") as handle:
        template = read_po(handle)
    for message in template:
        if not message.id:
            continue
        if isinstance(message.id, str):
            text = messages.sms(language, message.id, **WORST_VALUES)
        else:
            singular, plural = message.id
            text = messages.sms_counted(language, singular, plural, 55, **WORST_VALUES)
        assert segments(text).encoding == "GSM-7"
        assert segments(text).segments <= 2, (language, text)


def test_catalogs_are_text_in_the_repository_never_compiled_files() -> None:
    tracked = subprocess.run(
        ["git", "ls-files", "*.mo", "**/*.mo"], cwd=PROJECT, capture_output=True, text=True
    ).stdout
    assert tracked.strip() == ""
    assert po_path("es").is_file() and POT_PATH.is_file()


def test_a_catalog_is_compiled_once_and_kept() -> None:
    assert catalog("es") is catalog("es")
    assert catalog("es").gettext("yes") == "sí"


def test_an_untranslated_text_is_a_warning_and_goes_out_in_english() -> None:
    with pytest.warns(UntranslatedText):
        said = render("es", "A sentence nobody translated, {name}.", {"name": "Ana"})
    assert said == "A sentence nobody translated, Ana."
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        render("en", "English needs no catalog.", {})


def test_a_text_keeps_its_english_and_says_it_again_in_spanish() -> None:
    sentence = Text(
        "The balance of account ending {account} is {amount}.", account="1234", amount="$5.00"
    )
    assert sentence == "The balance of account ending 1234 is $5.00."
    assert localize(sentence, "es") == "El saldo de la cuenta terminada en 1234 es $5.00."
    counted = Text.counted("{count} minute", "{count} minutes", 1)
    assert (counted, localize(counted, "es")) == ("1 minute", "1 minuto")


def test_a_page_can_use_the_translator_in_templates_and_scripts() -> None:
    """What the capture page will use: Jinja's i18n extension, and strings for its JS."""
    environment = jinja2.Environment(extensions=["jinja2.ext.i18n"], autoescape=True)
    environment.install_gettext_translations(translator("es"), newstyle=True)  # type: ignore[attr-defined]
    page = environment.from_string("<p>{{ _('Goodbye.') }}</p>").render()
    assert page == "<p>Adiós.</p>"  # accents kept: only SMS texts drop them
    assert strings("es", ["Goodbye.", "yes"]) == {"Goodbye.": "Adiós.", "yes": "sí"}
    assert strings("en", ["Goodbye."]) == {"Goodbye.": "Goodbye."}
