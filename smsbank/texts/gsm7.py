"""What an SMS costs: the GSM-7 alphabet, a segment counter, and transliteration.

Carriers bill by segment (3GPP TS 23.038 for the alphabet, TS 23.040 for the parts). A
text written only in the GSM 7-bit default alphabet is one segment up to 160 septets;
one character outside it and the whole text is sent in UCS-2, one segment up to 70
UTF-16 code units. A longer text is split into parts that each carry a 6-byte header:
153 septets or 67 code units a part. Characters of the extension table (`{ } [ ] ~ \\
^ | €` and form feed) are an escape plus a character: two septets, and a part never
splits the pair; a UCS-2 part never splits a surrogate pair either.

`to_gsm7` rewrites any text into that alphabet: letters lose the accents GSM-7 lacks
(`á` -> `a`, `Ł` -> `L`, `Þ` -> `Th`), typography becomes plain (`’` -> `'`, `…` ->
`...`, `•` -> `*`), and what has no plain form becomes `?`. It is for the words of a
text only: names and other data keep their spelling wherever they are stored.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass

# The default alphabet, in code order (0x00-0x7F); 0x1B is the escape to the extension
# table, never a character of its own.
BASIC_TABLE = (
    "@£$¥èéùìòÇ\nØø\rÅå"
    "Δ_ΦΓΛΩΠΨΣΘΞ\x1bÆæßÉ"
    " !\"#¤%&'()*+,-./"
    "0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNO"
    "PQRSTUVWXYZÄÖÑÜ§"
    "¿abcdefghijklmno"
    "pqrstuvwxyzäöñüà"
)
BASIC = frozenset(BASIC_TABLE) - {"\x1b"}
EXTENSION = frozenset("\f^{}\\[]~|€")
GSM7 = BASIC | EXTENSION

SINGLE_GSM7, PART_GSM7 = 160, 153
SINGLE_UCS2, PART_UCS2 = 70, 67

# Plain forms of characters that decomposing does not reach, and of typography.
_PLAIN = {
    # GSM-7 has é but not á í ó ú: Spanish reads better with no accents than with one.
    "é": "e",
    "É": "E",
    "Ł": "L",
    "ł": "l",
    "Þ": "Th",
    "þ": "th",
    "Ð": "D",
    "ð": "d",
    "Đ": "D",
    "đ": "d",
    "Ħ": "H",
    "ħ": "h",
    "Œ": "OE",
    "œ": "oe",
    "ı": "i",
    "ŀ": "l",
    "Ŀ": "L",
    "ſ": "s",
    "ĸ": "k",
    "‘": "'",
    "’": "'",
    "‚": "'",
    "‛": "'",
    "′": "'",
    "‹": "'",
    "›": "'",
    "“": '"',
    "”": '"',
    "„": '"',
    "‟": '"',
    "″": '"',
    "«": '"',
    "»": '"',
    "‐": "-",
    "‑": "-",
    "‒": "-",
    "–": "-",
    "—": "-",
    "―": "-",
    "−": "-",
    "…": "...",
    "•": "*",
    "·": ".",
    "×": "x",
    "÷": "/",
    "¢": "c",
    "₦": "N",
    "\t": " ",
    "`": "'",
}
_UNKNOWN = "?"


def is_gsm7(text: str) -> bool:
    """Whether every character of `text` is in the GSM-7 default or extension table."""
    return all(char in GSM7 for char in text)


def to_gsm7(text: str) -> str:
    """`text` written in GSM-7 only (see the module docstring)."""
    if text.isascii() and "`" not in text and "\t" not in text and text.isprintable():
        return text  # the common case: plain ASCII is GSM-7 already
    return text.translate(_TABLE)


class _PlainTable(dict[int, str]):
    """str.translate's table: each character's plain form, worked out once and kept."""

    def __missing__(self, code: int) -> str:
        plain = _plain(chr(code))
        if len(self) < _TABLE_LIMIT:  # a text full of rare characters cannot grow it forever
            self[code] = plain
        return plain


_TABLE_LIMIT = 20_000
_TABLE = _PlainTable()


def _plain(char: str) -> str:
    if char in _PLAIN:
        return _PLAIN[char]
    if char in GSM7:
        return char
    if unicodedata.category(char)[0] == "C":
        return ""  # control and format characters (zero-width spaces...) say nothing
    decomposed = unicodedata.normalize("NFKD", char)
    letters = "".join(c for c in decomposed if not unicodedata.combining(c))
    if letters and letters != char:
        return "".join(_plain(c) for c in letters)
    return _UNKNOWN


@dataclass(frozen=True)
class Segments:
    """How an SMS is sent: its encoding, its length in that encoding, its billed parts."""

    encoding: str  # "GSM-7" | "UCS-2"
    units: int  # septets (GSM-7) or UTF-16 code units (UCS-2)
    segments: int


def segments(text: str) -> Segments:
    """The segments `text` is billed as (3GPP TS 23.038 / 23.040, see the module)."""
    if is_gsm7(text):
        sizes = [2 if char in EXTENSION else 1 for char in text]
        return Segments("GSM-7", sum(sizes), _parts(sizes, SINGLE_GSM7, PART_GSM7))
    sizes = [2 if ord(char) > 0xFFFF else 1 for char in text]
    return Segments("UCS-2", sum(sizes), _parts(sizes, SINGLE_UCS2, PART_UCS2))


def _parts(sizes: list[int], single: int, part: int) -> int:
    """Parts needed for characters of these sizes; a character is never split."""
    total = sum(sizes)
    if total <= single:
        return 1
    parts, used = 1, 0
    for size in sizes:
        if used + size > part:
            parts, used = parts + 1, 0
        used += size
    return parts


def septets(text: str) -> int:
    """Length of a GSM-7 text in septets (extension characters count two)."""
    return len(text) + sum(text.count(char) for char in EXTENSION)
