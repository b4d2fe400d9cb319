"""The log formatter masks what must never be written (smsbank/logs.py) and keeps what
operators read (durations, statuses)."""

from __future__ import annotations

import json
import logging

from smsbank.logs import JsonFormatter, TextFormatter


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
