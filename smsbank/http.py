"""HTTP glue shared by every blueprint: JSON errors in one place, request logs, and the
way handlers reach the settings and services of the running app."""

from __future__ import annotations

import logging
import time
from typing import Any

from pydantic import ValidationError
from quart import Quart, Response, current_app, g, jsonify, request
from quart_schema import RequestSchemaValidationError
from tortoise.exceptions import DBConnectionError, OperationalError
from werkzeug.exceptions import HTTPException

from smsbank.errors import BankError
from smsbank.settings import Settings

log = logging.getLogger("smsbank.http")
# Pages and probes poll these every second or so: a line for each would bury the
# requests that matter, so they are logged at DEBUG (errors still at INFO).
POLLED_PATHS = frozenset({"/dev/messages", "/healthz", "/readyz"})


def settings() -> Settings:
    """The settings of the app serving this request."""
    configured: Settings = current_app.config["SMSBANK_SETTINGS"]
    return configured


def services() -> Any:
    """The running app's services (face engine, SMS backend, outbox...)."""
    return current_app.extensions["smsbank"]


def error_response(status: int, code: str, message: str, **extra: Any) -> Response:
    response = jsonify({"error": {"code": code, "message": message}, **extra})
    response.status_code = status
    return response


def _validation_message(error: RequestSchemaValidationError) -> str:
    cause = error.validation_error
    if isinstance(cause, ValidationError):
        parts = []
        for item in cause.errors()[:5]:
            where = ".".join(str(p) for p in item.get("loc", ())) or "body"
            parts.append(f"{where}: {item.get('msg', 'invalid')}")
        return "; ".join(parts)
    if isinstance(cause, TypeError | ValueError):
        return "the request body must be a JSON object with the documented fields"
    return "the request is not valid"


def register_http_handlers(app: Quart) -> None:
    """JSON for every error, one log line per request."""

    @app.errorhandler(BankError)
    async def handle_bank_error(error: BankError) -> Response:
        return error_response(error.status, error.code, error.message, **error.extra)

    @app.errorhandler(RequestSchemaValidationError)
    async def handle_schema_error(error: RequestSchemaValidationError) -> Response:
        return error_response(400, "invalid_request", _validation_message(error))

    @app.errorhandler(HTTPException)
    async def handle_http_exception(error: HTTPException) -> Response:
        status = error.code or 500
        code = (error.name or "error").lower().replace(" ", "_")
        message = {
            404: "no such endpoint",
            405: "method not allowed on this endpoint",
            413: "the request is too large",
        }.get(status, error.description or error.name or "error")
        return error_response(status, code, message)

    @app.errorhandler(DBConnectionError)
    @app.errorhandler(OperationalError)
    @app.errorhandler(ConnectionError)
    async def handle_database_down(error: Exception) -> Response:
        # Database unreachable or locked past its timeout: nothing was committed.
        log.error("database unavailable", extra={"error": type(error).__name__})
        response = error_response(
            503, "service_unavailable", "the bank is briefly unavailable; try again shortly"
        )
        response.headers["Retry-After"] = "5"
        return response

    @app.errorhandler(Exception)
    async def handle_unexpected(error: Exception) -> Response:
        log.exception("unhandled error", extra={"path": request.path})
        return error_response(500, "internal_error", "something went wrong on our side")

    @app.before_request
    async def start_timer() -> None:
        g.request_started = time.perf_counter()

    @app.after_request
    async def log_request(response: Response) -> Response:
        polled = request.path in POLLED_PATHS and response.status_code < 400
        level = logging.DEBUG if polled else logging.INFO
        if log.isEnabledFor(level):  # the line is not built for nothing
            started = getattr(g, "request_started", None)
            elapsed = (time.perf_counter() - started) * 1000 if started else None
            log.log(
                level,
                "request",
                extra={
                    "method": request.method,
                    "path": request.path,
                    "status": response.status_code,
                    "ms": round(elapsed, 1) if elapsed is not None else None,
                },
            )
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("Referrer-Policy", "no-referrer")
        return response
