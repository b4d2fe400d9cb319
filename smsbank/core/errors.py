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
    """429; `retry_after` (seconds), when known, is sent as the Retry-After header."""

    status = 429
    code = "rate_limited"

    def __init__(self, message: str, *, retry_after: int | None = None, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.retry_after = retry_after


class Forbidden(BankError):
    status = 403
    code = "forbidden"


class InsufficientFunds(Conflict):
    code = "insufficient_funds"


class LimitExceeded(Conflict):
    code = "limit_exceeded"
