"""HTTP glue shared by every blueprint: JSON errors in one place, request logs, bodies
read with a cap, JSON parsed safely, and the way handlers reach the settings and
services of the running app."""

from __future__ import annotations

import json
import logging
import time
from typing import Any

from pydantic import ValidationError
from quart import Quart, Request, Response, current_app, g, jsonify, request
from quart_schema import RequestSchemaValidationError
from tortoise.exceptions import DBConnectionError, OperationalError
from werkzeug.exceptions import HTTPException

from smsbank.core.errors import BankError, PayloadTooLarge, TooManyRequests, ValidationFailed
from smsbank.core.settings import Settings

log = logging.getLogger("smsbank.http")
# Pages and probes poll these every second or so: a line for each would bury the
# requests that matter, so they are logged at DEBUG (errors still at INFO).
POLLED_PATHS = frozenset({"/dev/messages", "/healthz", "/readyz"})

# Headers every response carries, set in one place (`register_http_handlers`). The API
# answers data, never a page: nothing may load from it or frame it. Pages (capture,
# dev phone, docs) load their own scripts, styles and images and talk to their origin
# only; no inline script runs, and no page can be framed (clickjacking a selfie).
API_POLICY = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
PAGE_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; "
    "media-src 'self' blob:; connect-src 'self'; font-src 'self'; manifest-src 'self'; "
    "form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
)
SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    # Capture links carry their token in the URL: no page may hand it on as a referrer.
    "Referrer-Policy": "no-referrer",
    # The capture page films the customer; nothing else needs a sensor.
    "Permissions-Policy": "camera=(self), microphone=(), geolocation=(), payment=(), usb=()",
}
HSTS = "max-age=31536000; includeSubDomains"

# A staff request's JSON is a handful of short fields; a photo comes as multipart, never
# as JSON. The cap keeps what is parsed small whatever the app-wide upload limit is.
MAX_JSON_BYTES = 64 * 1024


def settings() -> Settings:
    """The settings of the app serving this request."""
    configured: Settings = current_app.config["SMSBANK_SETTINGS"]
    return configured


def services() -> Any:
    """The running app's services (face engine, SMS backend, outbox...)."""
    return current_app.extensions["smsbank"]


async def capped_body(incoming: Request, limit: int) -> bytes:
    """The request body, refused (413) as soon as it is known to exceed `limit` bytes.

    A declared Content-Length is judged before a byte is read; a chunked body is counted
    as it arrives and refused at the first chunk past the limit, not at its end.
    """
    too_large = PayloadTooLarge(f"the request body is larger than {limit} bytes")
    declared = incoming.content_length
    if declared is not None:
        if declared > limit:
            raise too_large
        return await incoming.get_data(cache=True, as_text=False, parse_form_data=False)
    received = bytearray()
    async for chunk in incoming.body:
        received += chunk
        if len(received) > limit:
            raise too_large
    # Kept, as `get_data` would keep it, for anything that reads the body again.
    incoming.body.set_result(bytes(received))
    return bytes(received)


def parse_json(body: bytes) -> Any:
    """JSON from a request body; what is not UTF-8 JSON is a 400, never a crash."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ValidationFailed("the request body is not UTF-8 text", code="invalid_json") from exc
    try:
        return json.loads(text)
    except RecursionError as exc:
        # The parser recurses per level: a few thousand `[` exhaust the stack.
        raise ValidationFailed("the JSON is nested too deeply", code="invalid_json") from exc
    except ValueError as exc:
        message = f"the request body is not valid JSON: {exc}"
        raise ValidationFailed(message, code="invalid_json") from exc


class BankRequest(Request):
    """Quart's request, with JSON read under `MAX_JSON_BYTES` and parsed by `parse_json`."""

    async def get_json(self, force: bool = False, silent: bool = False, cache: bool = True) -> Any:
        if not (force or self.is_json):
            return None
        body = await capped_body(self, MAX_JSON_BYTES)  # too large is refused even if silent
        try:
            return parse_json(body)
        except ValidationFailed:
            if silent:
                return None
            raise


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
        response = error_response(error.status, error.code, error.message, **error.extra)
        if isinstance(error, TooManyRequests) and error.retry_after is not None:
            response.headers["Retry-After"] = str(error.retry_after)
        return response

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

    production = app.config["SMSBANK_SETTINGS"].is_production

    @app.after_request
    async def finish_response(response: Response) -> Response:
        """One hook for every response: its security headers, then its log line."""
        add_security_headers(response, production=production)
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
        return response


def add_security_headers(response: Response, *, production: bool) -> None:
    """`SECURITY_HEADERS`, the policy for a page or for data, and HSTS in production,
    each unless the response set its own (the capture page sets a narrower policy)."""
    headers = response.headers
    # One pass over what is there: `setdefault` costs a KeyError per missing header.
    present = {name.lower() for name, _ in headers.items()}
    for name, value in SECURITY_HEADERS.items():
        if name.lower() not in present:
            headers.add(name, value)
    if "content-security-policy" not in present:
        page = response.mimetype == "text/html"
        headers.add("Content-Security-Policy", PAGE_POLICY if page else API_POLICY)
    if production and "strict-transport-security" not in present:
        headers.add("Strict-Transport-Security", HSTS)
