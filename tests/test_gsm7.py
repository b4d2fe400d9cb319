"""The segment counter against known cases of 3GPP TS 23.038 / 23.040, and the
transliteration that keeps every text in GSM-7."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from smsbank.texts.gsm7 import BASIC_TABLE, EXTENSION, is_gsm7, segments, to_gsm7


@pytest.mark.parametrize(
    ("text", "encoding", "units", "parts"),
    [
        ("", "GSM-7", 0, 1),
        ("Hello world", "GSM-7", 11, 1),
        ("a" * 160, "GSM-7", 160, 1),
        ("a" * 161, "GSM-7", 161, 2),
        ("a" * 306, "GSM-7", 306, 2),  # two full parts of 153
        ("a" * 307, "GSM-7", 307, 3),
        ("@£$¥èéùìòÇØøÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ¤¡ÄÖÑÜ§¿äöñüà", "GSM-7", 42, 1),  # the basic table's letters
        ("[x]", "GSM-7", 5, 1),  # extension characters are two septets
        ("€" * 80, "GSM-7", 160, 1),
        ("€" * 81, "GSM-7", 162, 2),  # 76 escape pairs a part (152 of 153 septets)
        # An escape pair is never split: 152 + "{" does not fit the first part's 153.
        ("a" * 152 + "{" + "a" * 152, "GSM-7", 306, 3),
        ("á" * 70, "UCS-2", 70, 1),  # one character outside GSM-7 and it is UCS-2
        ("á" * 71, "UCS-2", 71, 2),
        ("a" * 134 + "•", "UCS-2", 135, 3),  # 67 a part
        ("`", "UCS-2", 1, 1),  # ASCII, yet not in GSM-7
        ("ç", "UCS-2", 1, 1),  # only the capital Ç is in the basic table
        ("😀" * 35, "UCS-2", 70, 1),  # a surrogate pair is two code units
        ("😀" * 36, "UCS-2", 72, 2),
        # A surrogate pair is never split: 66 + the pair does not fit a part of 67.
        ("a" * 66 + "😀" + "a" * 66, "UCS-2", 134, 3),
    ],
)
def test_segments_of_known_texts(text: str, encoding: str, units: int, parts: int) -> None:
    counted = segments(text)
    assert (counted.encoding, counted.units, counted.segments) == (encoding, units, parts)


def test_the_tables_are_the_standards() -> None:
    assert len(BASIC_TABLE) == 128 and BASIC_TABLE[0x1B] == "\x1b"
    assert (BASIC_TABLE[0x00], BASIC_TABLE[0x40], BASIC_TABLE[0x60], BASIC_TABLE[0x7F]) == (
        "@",
        "¡",
        "¿",
        "à",
    )
    assert frozenset("\f^{}\\[~]|€") == EXTENSION


@pytest.mark.parametrize(
    ("text", "plain"),
    [
        ("Zoë Łukasiewicz-Núñez Þórsdóttir", "Zoe Lukasiewicz-Nuñez Thorsdottir"),
        ("José Ángel Díaz", "Jose Angel Diaz"),  # é too: Spanish unaccented throughout
        ("Ærøskøbing Ågade", "Ærøskøbing Ågade"),  # GSM-7 has these: kept
        ("account ••1234", "account **1234"),
        ("“Quoted” – it’s…", '"Quoted" - it\'s...'),
        ("₦1,000.00", "N1,000.00"),
        ("€20 [ok]", "€20 [ok]"),
        ("tab\there", "tab here"),
        ("zero\u200bwidth", "zerowidth"),
        ("Ελένη", "?????"),  # Greek outside the GSM-7 capitals has no plain form
        ("王伟", "??"),
        ("😀", "?"),
        ("¿Ya? ¡Sí!", "¿Ya? ¡Si!"),
    ],
)
def test_to_gsm7_writes_plain_letters(text: str, plain: str) -> None:
    assert to_gsm7(text) == plain
    assert is_gsm7(to_gsm7(text))


@given(st.text(max_size=300))
def test_to_gsm7_always_gives_gsm7_and_is_stable(text: str) -> None:
    plain = to_gsm7(text)
    assert is_gsm7(plain)
    assert segments(plain).encoding == "GSM-7"
    assert to_gsm7(plain) == plain


@given(st.text(alphabet=st.sampled_from(BASIC_TABLE.replace("\x1b", "")), max_size=400))
def test_a_gsm7_text_is_billed_by_septets(text: str) -> None:
    counted = segments(text)
    assert counted.units == len(text)
    assert counted.segments == (1 if len(text) <= 160 else -(-len(text) // 153))
