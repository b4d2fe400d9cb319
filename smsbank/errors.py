"""Domain errors. Each carries an HTTP status and a snake_case code; the app turns them
into `{"error": {"code", "message"}}` in one place (see `smsbank.http`)."""

from __future__ import annotations

from typing import Any


class BankError(Exception):
    """An expected failure with a message fit to show to the person who caused it."""

    status = 400
    code = "bad_request"

    def __init__(
        self,
        message: str,
        *,
        code: str | None = None,
        status: int | None = None,
        extra: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code
        if status is not None:
            self.status = status
        self.extra = extra or {}


class ValidationFailed(BankError):
    status = 400
    code = "invalid_request"


class NotFound(BankError):
    status = 404
    code = "not_found"


class Conflict(BankError):
    status = 409
    code = "conflict"


class Gone(BankError):
    status = 410
    code = "gone"


class Unprocessable(BankError):
    status = 422
    code = "unprocessable"


class PayloadTooLarge(BankError):
    status = 413
    code = "payload_too_large"


class UnsupportedMediaType(BankError):
    status = 415
    code = "unsupported_media_type"


class TooManyRequests(BankError):
    status = 429
    code = "rate_limited"


class Forbidden(BankError):
    status = 403
    code = "forbidden"


class InsufficientFunds(Conflict):
    code = "insufficient_funds"


class LimitExceeded(Conflict):
    code = "limit_exceeded"
