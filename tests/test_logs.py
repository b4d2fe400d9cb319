"""The log formatter masks what must never be written (smsbank/core/logs.py) and keeps what
operators read (durations, statuses)."""

from __future__ import annotations

import json
import logging

from smsbank.core.logs import JsonFormatter, TextFormatter, mask_text


def record(message: str, **extra: object) -> logging.LogRecord:
    entry = logging.LogRecord("smsbank.test", logging.INFO, __file__, 1, message, None, None)
    entry.__dict__.update(extra)
    return entry


def test_codes_phones_tokens_and_keys_are_masked_in_messages_and_fields() -> None:
    entry = record(
        "sent 123456 to +15551234567 via /capture/abcdefghijklmnopqrstuvwxyz0123",
        note="key sbk_secretsecret and Bearer abc.def",
        otp="654321",
        api_key="sbk_whatever",
    )

    line = json.loads(JsonFormatter().format(entry))

    assert line["message"] == "sent <code> to +…4567 via /capture/<token>"
    assert line["note"] == "key sbk_<key> and Bearer <key>"
    assert line["otp"] == "<redacted>" and line["api_key"] == "<redacted>"
    assert "123456" not in TextFormatter().format(entry)


def test_durations_and_statuses_stay_readable() -> None:
    entry = record("face analysed", decode_ms=17.2, detect_ms=101.0, status_code=200)

    line = json.loads(JsonFormatter().format(entry))

    assert (line["decode_ms"], line["detect_ms"], line["status_code"]) == (17.2, 101.0, 200)


def test_the_masking_that_scrubs_stored_texts_knows_every_secret_form() -> None:
    """`mask_text` is what scrubs a sent text's secret in the outbox (smsbank/outbox.py)."""
    token = "Zx9_" + "a" * 39
    short = "Ab-_cdEFgh0123456789xy"  # the 22-character short form of a capture link
    text = (
        "123456 is your code. Your code is 6, 5, 4, 3, 2, 1. "
        f"https://bank.example.test/capture/{token} https://bank.example.test/c/{short}"
    )
    masked = mask_text(text)
    assert masked == (
        "<code> is your code. Your code is <code>. "
        "https://bank.example.test/capture/<token> https://bank.example.test/c/<token>"
    )
    assert mask_text(masked) == masked  # scrubbing twice changes nothing
