"""The app factory: `create_app()` builds a Quart app from one settings object.

Nothing is built at import time. The database connects in `before_serving` and closes
in `after_serving`, so `app.test_app()` in tests and hypercorn in production run the
same start-up and shut-down.
"""

from __future__ import annotations

import gc
import logging
import time

from quart import Quart, Response, g, request
from quart_schema import QuartSchema

import capture_page
from smsbank import devphone, metrics
from smsbank.api import admin, branch, customers, docs, health, legacy
from smsbank.api import faces as face_api
from smsbank.api import metrics as metrics_api
from smsbank.api.auth import BEARER_SCHEME
from smsbank.db import close_db, init_db
from smsbank.expiry import ExpirySweeper
from smsbank.faces.service import FaceService
from smsbank.http import BankRequest, register_http_handlers
from smsbank.outbox.worker import OutboxWorker
from smsbank.services import Services
from smsbank.settings import Settings
from smsbank.sms.group_commit import InboundBatcher
from webhooks import sms as twilio_sms
from webhooks import status as twilio_status
from webhooks import voice as twilio_voice

log = logging.getLogger("smsbank.app")

MAX_REQUEST_BYTES = 12 * 1024 * 1024  # a 10 MB photo plus the multipart envelope
# Where a request can queue a message outside the SMS path (codes, links, receipts).
STAFF_AND_PAGE_BLUEPRINTS = (
    customers.blueprint,
    admin.blueprint,
    legacy.blueprint,
    branch.blueprint,
    face_api.blueprint,
    capture_page.blueprint,
)
WEBHOOK_BLUEPRINTS = (twilio_sms.blueprint, twilio_voice.blueprint, twilio_status.blueprint)


def create_app(settings: Settings | None = None, *, services: Services | None = None) -> Quart:
    """Build the bank's app; `settings` default to the environment and `.env`."""
    settings = settings or Settings.from_env()
    app = Quart("smsbank")
    app.request_class = BankRequest
    app.config["SMSBANK_SETTINGS"] = settings
    app.config["MAX_CONTENT_LENGTH"] = MAX_REQUEST_BYTES
    app.config["QUART_SCHEMA_CONVERSION_PREFERENCE"] = "pydantic"
    app.extensions["smsbank"] = services or Services(settings=settings)

    QuartSchema(
        app,
        info={"title": "SMS Bank staff API", "version": "1"},
        security_schemes=BEARER_SCHEME,
        openapi_path="/openapi.json",
        swagger_ui_path=None,  # served from local files by smsbank.api.docs (works offline)
        redoc_ui_path=None,
        scalar_ui_path=None,
    )
    register_http_handlers(app)
    for blueprint in (
        health.blueprint,
        metrics_api.blueprint,
        docs.blueprint,
        customers.blueprint,
        admin.blueprint,
        legacy.blueprint,
        branch.blueprint,
        twilio_sms.blueprint,
        twilio_voice.blueprint,
        twilio_status.blueprint,
        face_api.blueprint,
        capture_page.blueprint,
    ):
        app.register_blueprint(blueprint)
    if settings.dev_phone_enabled:
        # Anywhere else the routes do not exist at all: no check to forget or get wrong.
        app.register_blueprint(devphone.blueprint)
    bank_services = app.extensions["smsbank"]
    if settings.outbox_enabled and bank_services.outbox is None:
        bank_services.outbox = OutboxWorker(settings)
        bank_services.components.append(bank_services.outbox)
    if settings.sms_group_commit and bank_services.inbound_batch is None:
        bank_services.inbound_batch = InboundBatcher(settings, outbox=bank_services.outbox)
        bank_services.components.append(bank_services.inbound_batch)
    if settings.expiry_sweep_seconds > 0 and bank_services.expiry is None:
        bank_services.expiry = ExpirySweeper(settings)
        bank_services.components.append(bank_services.expiry)
    # A face service handed in (tests share one warmed engine) is started and
    # stopped by its owner; one built here is a component of this app.
    if bank_services.face is None:
        bank_services.face = FaceService(settings)
        bank_services.components.append(bank_services.face)

    async def send_what_was_queued(response: Response) -> Response:
        # A change made by staff or on a capture page has committed when its handler
        # returns; what it queued (a code, an enrolment link, a receipt) goes now rather
        # than at the worker's next poll. (The SMS path wakes the worker itself.)
        outbox = bank_services.outbox
        if outbox is not None and request.method != "GET" and response.status_code < 400:
            outbox.wake()
        return response

    for blueprint in STAFF_AND_PAGE_BLUEPRINTS:
        app.after_request_funcs.setdefault(blueprint.name, []).append(send_what_was_queued)
    for blueprint in WEBHOOK_BLUEPRINTS:
        app.after_request_funcs.setdefault(blueprint.name, []).append(time_webhook)

    @app.before_serving
    async def start() -> None:
        await init_db(settings)
        for component in app.extensions["smsbank"].components:
            await component.start()
        log.info(
            "started", extra={"env": settings.env, "sms_backend": settings.effective_sms_backend}
        )

    @app.after_serving
    async def stop() -> None:
        for component in reversed(app.extensions["smsbank"].components):
            await component.stop()
        await close_db()

    return app


async def time_webhook(response: Response) -> Response:
    """Webhook latency by route: the matched route's template, never the raw path."""
    started = g.get("request_started")
    rule = request.url_rule
    if started is not None and rule is not None:
        metrics.observe_webhook(rule.rule, time.perf_counter() - started)
    return response


def serve_app() -> Quart:
    """What `smsbank serve` runs in each hypercorn worker process: logs, then the app.

    Workers are fresh processes, so logging is configured here rather than by the CLI.
    """
    from smsbank.logs import configure_logging

    settings = Settings.from_env()
    configure_logging(settings.log_level, settings.log_format)
    app = create_app(settings)

    @app.before_serving
    async def freeze_startup_heap() -> None:
        # Registered after create_app's own start-up, so it runs once everything is
        # loaded. The face libraries leave a large heap of long-lived objects, and every
        # full garbage collection walked all of it, and its pauses set the webhook's p99
        # (bench/README.md). Frozen, they are never scanned again. Only in served
        # workers: tests build many apps in one process.
        gc.collect()
        gc.freeze()

    return app
