"""Languages: the message catalogs (gettext, written and checked with Babel).

Theory of operation
-------------------
Every word a customer reads or hears is written once, in English, in the code: that
English is the gettext *msgid*. `smsbank/texts/locale/messages.pot` lists them all (extracted
by `smsbank extract-messages`) and `smsbank/texts/locale/<lang>/LC_MESSAGES/messages.po`
holds each language's translations; both are text files in the repository. There are
no compiled `.mo` files: the first text in a language reads its `.po` once and keeps the
compiled catalog in memory (`catalog`), so rendering a text is a dictionary look-up.

Texts are rendered where their language is known (the customer's): `smsbank.texts.messages`
builds each SMS and spoken sentence from a msgid and its values. A sentence decided
before that, deep in the domain (an error such as "There is not enough money in the
account for that."), is a `Text`: an English string, so staff and logs read it as
before, that remembers its msgid and values so `localize` can say it again in Spanish.

Placeholders are `{name}` (str.format). A translation must keep exactly the msgid's
placeholders; tests/test_i18n.py holds every catalog to that, and to having a
translation for every msgid.

For pages: `translator(language)` is a `gettext.NullTranslations` (usable by Jinja's
i18n extension, or as `gettext=translator(lang).gettext` in a template's context), and
`strings(language, msgids)` a dict for a page's JavaScript.
"""

from __future__ import annotations

import functools
import gettext
import io
import warnings
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from pathlib import Path
from typing import Any, Literal

LOCALE_DIR = Path(__file__).resolve().parent / "locale"
DOMAIN = "messages"
# What extraction looks for: function name -> the arguments holding msgids (1-based).
EXTRACT_KEYWORDS: dict[str, Any] = {
    "N_": None,
    "Text": (1,),
    "counted": (1, 2),
    "sms": (2,),
    "sms_counted": (2, 3),
    "spoken": (2,),
    "render": (2,),
    "render_counted": (2, 3),
}


class Language(StrEnum):
    """The languages the bank speaks; a customer has one (English unless they chose)."""

    EN = "en"
    ES = "es"


# The CLDR locale of each language, for what Babel knows without a catalog (month names).
LOCALES: dict[str, str] = {Language.EN: "en_US", Language.ES: "es_MX"}
# How a call speaks each language: TwiML <Say> attributes. Spanish names a voice that
# Twilio documents for Mexican Spanish (Amazon Polly's Mia); English keeps Twilio's
# default voice.
VOICES: dict[str, dict[str, str]] = {
    Language.EN: {"language": "en-US"},
    Language.ES: {"language": "es-MX", "voice": "Polly.Mia"},
}
SOURCE_LANGUAGE = Language.EN  # msgids are English
DEFAULT_LANGUAGE = Language.EN
LANGUAGES = tuple(language.value for language in Language)


class UntranslatedText(UserWarning):
    """A text was rendered in a language whose catalog has no translation for it."""


def N_(msgid: str) -> str:
    """Mark a constant for extraction; it is translated where it is rendered."""
    return msgid


def parse_language(value: object) -> Language:
    """A language code from input (staff API, CLI, CSV); ValueError names the choices."""
    text = value.strip().lower() if isinstance(value, str) else ""
    try:
        return Language(text)
    except ValueError:
        choices = ", ".join(LANGUAGES)
        raise ValueError(f"language must be one of {choices}") from None


@dataclass(frozen=True)
class Catalog:
    """One language's compiled translations, and which msgids it translates."""

    language: str
    translations: gettext.NullTranslations
    translated: frozenset[str]

    def gettext(self, msgid: str) -> str:
        self._check(msgid)
        return self.translations.gettext(msgid)

    def ngettext(self, singular: str, plural: str, n: int) -> str:
        self._check(singular)
        return self.translations.ngettext(singular, plural, n)

    def _check(self, msgid: str) -> None:
        if self.language != SOURCE_LANGUAGE and msgid not in self.translated:
            # The text still goes out, in English; the suite turns this into a failure.
            warnings.warn(
                f"no {self.language} translation for {msgid!r}", UntranslatedText, stacklevel=4
            )


def po_path(language: str) -> Path:
    return LOCALE_DIR / language / "LC_MESSAGES" / f"{DOMAIN}.po"


@functools.cache
def catalog(language: str) -> Catalog:
    """`language`'s catalog, compiled from its `.po` on first use and kept in memory.

    An unknown language gets the source language's (English): a text always goes out.
    """
    if language not in LANGUAGES or language == SOURCE_LANGUAGE:
        return Catalog(SOURCE_LANGUAGE.value, gettext.NullTranslations(), frozenset())
    from babel.messages.mofile import write_mo
    from babel.messages.pofile import read_po

    with po_path(language).open("rb") as handle:
        po = read_po(handle, locale=language, domain=DOMAIN)
    compiled = io.BytesIO()
    write_mo(compiled, po)  # fuzzy entries are left out, as msgfmt does
    compiled.seek(0)
    translated = frozenset(
        message.id if isinstance(message.id, str) else message.id[0]
        for message in po
        if message.id and not message.fuzzy and _has_string(message.string)
    )
    return Catalog(language, gettext.GNUTranslations(compiled), translated)


def _has_string(string: object) -> bool:
    if isinstance(string, str):
        return bool(string)
    return isinstance(string, tuple | list) and all(string)


@functools.cache
def month_name(language: str, month: int, width: Literal["abbreviated", "wide"] = "wide") -> str:
    """A month's name ("March", "marzo"; "abbreviated": "Mar", "mar") from CLDR."""
    from babel.dates import get_month_names

    locale = LOCALES.get(language, LOCALES[DEFAULT_LANGUAGE])
    return str(get_month_names(width, locale=locale)[month])


def voice(language: str) -> dict[str, str]:
    """The <Say> attributes (`language`, `voice`) a call in `language` uses."""
    return VOICES.get(language, VOICES[DEFAULT_LANGUAGE])


def translator(language: str) -> gettext.NullTranslations:
    """gettext translations for `language`, e.g. for a Jinja environment or template."""
    return catalog(language).translations


def strings(language: str, msgids: Iterable[str]) -> dict[str, str]:
    """{msgid: translation} for a page's script (JSON), in `language`."""
    chosen = catalog(language)
    return {msgid: chosen.gettext(msgid) for msgid in msgids}


class Localizable(str):
    """A string whose value is its English form and that can be said in a language."""

    def in_language(self, language: str) -> str:
        raise NotImplementedError


class Moment(Localizable):
    """A time as texts give it ("26 Nov 14:05 UTC", "26 nov 14:05 UTC")."""

    when: datetime

    def __new__(cls, when: datetime) -> Moment:
        moment = str.__new__(cls, f"{when:%d %b %H:%M} UTC")
        moment.when = when
        return moment

    def in_language(self, language: str) -> str:
        month = month_name(language, self.when.month, "abbreviated")
        return f"{self.when:%d} {month} {self.when:%H:%M} UTC"


class Text(Localizable):
    """A sentence decided before its language is known: English, and how to say it again.

    Its value is the English sentence, so it reads as any string does (staff API
    errors, logs, stored reasons); `localize` renders it in the customer's language.
    Values that are `Text` themselves are rendered in that language too.
    """

    msgid: str
    plural: str | None
    number: int | None  # what chooses the plural form (the `{count}` placeholder)
    values: Mapping[str, object]

    def __new__(cls, msgid: str, /, **values: object) -> Text:
        return cls._make(msgid, None, None, values)

    @classmethod
    def counted(cls, singular: str, plural: str, count: int, /, **values: object) -> Text:
        """A sentence with singular and plural forms, chosen by `count` (`{count}`)."""
        return cls._make(singular, plural, count, values)

    @classmethod
    def _make(
        cls, msgid: str, plural: str | None, count: int | None, values: Mapping[str, object]
    ) -> Text:
        english = _render(catalog(SOURCE_LANGUAGE), msgid, plural, count, values)
        text = str.__new__(cls, english)
        text.msgid, text.plural, text.number, text.values = msgid, plural, count, values
        return text

    def in_language(self, language: str) -> str:
        return _render(catalog(language), self.msgid, self.plural, self.number, self.values)


def localize(text: str, language: str) -> str:
    """`text` in `language`: a `Text` (or a `Moment`) with its values, or a msgid marked
    with `N_`."""
    if isinstance(text, Localizable):
        return text.in_language(language)
    return catalog(language).gettext(text)


@dataclass(frozen=True)
class Writing:
    """How a rendered text is written down: `template` rewrites a translated template
    (a small, fixed set of strings: worth caching), `value` each value filled into it.
    SMS texts use it to write GSM-7 (`smsbank.texts.messages`)."""

    template: Callable[[str], str]
    value: Callable[[str], str]


def render(
    language: str, msgid: str, values: Mapping[str, object], writing: Writing | None = None
) -> str:
    """The msgid translated into `language` and filled in with `values`."""
    return _render(catalog(language), msgid, None, None, values, writing)


def render_counted(
    language: str,
    singular: str,
    plural: str,
    count: int,
    values: Mapping[str, object],
    writing: Writing | None = None,
) -> str:
    return _render(catalog(language), singular, plural, count, values, writing)


def _render(
    chosen: Catalog,
    msgid: str,
    plural: str | None,
    count: int | None,
    values: Mapping[str, object],
    writing: Writing | None = None,
) -> str:
    if plural is None:
        template = chosen.gettext(msgid)
    else:
        assert count is not None
        template = chosen.ngettext(msgid, plural, count)
        values = {"count": count, **values}
    if writing is not None:
        template = writing.template(template)
    if not values:
        return template
    filled = {
        key: value.in_language(chosen.language) if isinstance(value, Localizable) else value
        for key, value in values.items()
    }
    if writing is not None:
        filled = {key: writing.value(str(value)) for key, value in filled.items()}
    return template.format(**filled)
