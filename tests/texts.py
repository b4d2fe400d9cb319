"""The rules every SMS the bank sends is held to (SPEC §4a), for tests that read texts."""

from __future__ import annotations

import re

from smsbank.texts.gsm7 import is_gsm7, segments

BANK_PREFIX = "SMS Bank: "
LINK_RE = re.compile(r"https?://\S+/c/[A-Za-z0-9_\-]{22}$")


def assert_reads_well(text: str, *, segments_at_most: int = 1) -> None:
    """One voice: starts with the bank's name and a capital; GSM-7; within its budget;
    ends a sentence, or with its link."""
    assert text.startswith(BANK_PREFIX), text
    first = text[len(BANK_PREFIX)]
    assert first.isupper() or first.isdigit(), text
    assert is_gsm7(text), text
    assert segments(text).segments <= segments_at_most, (segments(text), text)
    assert text.rstrip()[-1] in ".!?" or LINK_RE.search(text), text
