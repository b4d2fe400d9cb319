"""Structured logs: one JSON object per line, with secrets and phone numbers masked.

Masking happens in the formatter, so a careless `log.info(f"... {code}")` anywhere
still cannot leak a 6-digit code, a capture token, an API key or a full phone number.
`mask_text` is also what scrubs the secret out of a stored text once it was sent or
expired (`smsbank.outbox`): the one place that knows what a secret looks like.
"""

from __future__ import annotations

import json
import logging
import re
import sys
from datetime import UTC, datetime
from typing import Any

_RESERVED = set(logging.LogRecord("", 0, "", 0, "", None, None).__dict__) | {"message"}
_PATTERNS: list[tuple[re.Pattern[str], Any]] = [
    (re.compile(r"/capture/[A-Za-z0-9_\-]{16,}"), "/capture/<token>"),
    # The short form of a capture link: 22 characters of URL-safe base64.
    (re.compile(r"/c/[A-Za-z0-9_\-]{16,}"), "/c/<token>"),
    # A code read out by a call, digit by digit: "1, 2, 3, 4, 5, 6".
    (re.compile(r"(?<!\d)\d(?:, \d){5}(?!\d)"), "<code>"),
    (re.compile(r"\bsbk_[A-Za-z0-9_\-]+"), "sbk_<key>"),
    (re.compile(r"(?i)(bearer\s+)\S+"), r"\1<key>"),
    (re.compile(r"(?<![\d+])\d{6}(?!\d)"), "<code>"),
    (re.compile(r"\+\d{1,3}(\d{0,10})(\d{4})\b"), lambda m: "+…" + m.group(2)),
]
_SECRET_KEYS = ("code", "otp", "token", "key", "secret", "password", "authorization")


def mask_text(text: str) -> str:
    """Replace codes, tokens, keys and full phone numbers in free text."""
    for pattern, replacement in _PATTERNS:
        text = pattern.sub(replacement, text)
    return text


def _is_secret_key(key: str) -> bool:
    name = key.lower()
    if name in ("status_code", "error_code") or name.endswith("_ms"):
        return False  # a status, or a duration such as the face check's "decode_ms"
    return any(marker in name for marker in _SECRET_KEYS)


def _mask_value(key: str, value: Any) -> Any:
    if _is_secret_key(key):
        return "<redacted>"
    if isinstance(value, str):
        return mask_text(value)
    return value


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        payload: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": mask_text(record.getMessage()),
        }
        for key, value in record.__dict__.items():
            if key not in _RESERVED and not key.startswith("_"):
                payload[key] = _mask_value(key, value)
        if record.exc_info:
            payload["exception"] = mask_text(self.formatException(record.exc_info))
        return json.dumps(payload, default=str, ensure_ascii=False)


class TextFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        extras = " ".join(
            f"{k}={_mask_value(k, v)}"
            for k, v in record.__dict__.items()
            if k not in _RESERVED and not k.startswith("_")
        )
        base = f"{record.levelname:<7} {record.name}: {mask_text(record.getMessage())}"
        return f"{base} {extras}".rstrip()


def configure_logging(level: str = "INFO", fmt: str = "json") -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if fmt == "json" else TextFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # hypercorn's access log would print full URLs (capture tokens); ours masks them.
    logging.getLogger("hypercorn.access").disabled = True
    for noisy in ("tortoise", "aiosqlite", "asyncio", "twilio.http_client", "urllib3"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
