"""The capture page's script says nothing the server has not translated: every sentence
in its source is one of `capture_page.page.SCRIPT_STRINGS`, whose translations
tests/test_i18n.py holds to the catalogs."""

from __future__ import annotations

import re
from pathlib import Path

from capture_page.page import SCRIPT_STRINGS

STATIC = Path(__file__).resolve().parent.parent / "capture_page" / "static"
# A double-quoted literal that reads as words to a person: a capital, then a space.
SENTENCE = re.compile(r'"([A-Z][^"]*\s[^"]*)"')


def test_every_sentence_in_the_page_scripts_is_translated_by_the_server() -> None:
    scripts = sorted(STATIC.glob("*.js"))
    assert scripts
    found = {sentence for script in scripts for sentence in SENTENCE.findall(script.read_text())}
    assert found, "the pattern finds the script's sentences"
    assert found - set(SCRIPT_STRINGS) == set()
