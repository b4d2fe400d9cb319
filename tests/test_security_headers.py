"""Every response carries the security headers, set in one place (`smsbank.http`): a
Content-Security-Policy fit for what it is (data or a page), no framing, no MIME
sniffing, no referrer (capture links carry their token), the camera for this origin
only, and HSTS in production."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from smsbank.app import create_app
from smsbank.core.settings import Settings
from smsbank.http import API_POLICY, PAGE_POLICY
from smsbank.requests.capture import issue_enrolment_link
from tests.conftest import PRODUCTION_ADMIN_KEY, reset_database
from tests.twilio_signing import TwilioSigner, sms_form


async def responses(
    client: Any, settings: Settings, staff: dict[str, str], customer: Any
) -> dict[str, Any]:
    link = await issue_enrolment_link(settings, customer, actor="test")
    signer = TwilioSigner(settings)
    return {
        "api": await client.get("/api/v1/customers", headers=staff),
        "api_401": await client.get("/api/v1/customers"),
        "not_found": await client.get("/no/such/page"),
        "openapi": await client.get("/openapi.json"),
        "healthz": await client.get("/healthz"),
        "webhook": await signer.post(
            client, "/webhooks/twilio/sms", sms_form(customer.phone, "BAL")
        ),
        "webhook_403": await client.post("/webhooks/twilio/sms", form={"Body": "BAL"}),
        "docs_script": await client.get("/docs/assets/docs-init.js"),
        "docs": await client.get("/docs"),
        "capture": await client.get(link.removeprefix(settings.base_url)),
        "dev_phone": await client.get("/dev/phone"),
    }


PAGES = {"docs", "dev_phone"}


async def test_every_kind_of_response_has_the_headers(
    client: Any, settings: Settings, staff: dict[str, str], make_customer: Any
) -> None:
    customer = await make_customer()
    for kind, response in (await responses(client, settings, staff, customer)).items():
        headers = response.headers
        assert response.status_code < 500, kind
        assert headers["X-Content-Type-Options"] == "nosniff", kind
        assert headers["X-Frame-Options"] == "DENY", kind
        assert headers["Referrer-Policy"] == "no-referrer", kind
        assert headers["Permissions-Policy"].startswith("camera=(self),"), kind
        policy = headers["Content-Security-Policy"]
        assert "frame-ancestors 'none'" in policy, kind
        if kind in PAGES:
            assert response.mimetype == "text/html", kind
            assert policy == PAGE_POLICY, kind
        elif kind == "capture":  # the page sets its own, for the camera's stream
            assert "script-src 'self';" in policy and "unsafe" not in policy
        else:
            assert policy == API_POLICY, kind
        assert "Strict-Transport-Security" not in headers, kind  # development


def test_pages_run_no_inline_script_and_load_nothing_from_elsewhere() -> None:
    directives = dict(part.strip().split(" ", 1) for part in PAGE_POLICY.split(";"))
    assert directives["default-src"] == "'none'"
    for name in ("script-src", "style-src", "connect-src"):
        assert directives[name] == "'self'", name
    assert "unsafe" not in PAGE_POLICY and "http" not in PAGE_POLICY
    assert API_POLICY.startswith("default-src 'none'; frame-ancestors 'none'")


@pytest.fixture
async def production_client(production_settings: Settings) -> AsyncIterator[Any]:
    await reset_database(production_settings.database_url)
    app = create_app(production_settings)
    async with app.test_app() as test_app:
        yield test_app.test_client()


async def test_production_adds_hsts(production_client: Any) -> None:
    staff = {"Authorization": f"Bearer {PRODUCTION_ADMIN_KEY}"}
    for path in ("/healthz", "/docs", "/api/v1/customers", "/openapi.json"):
        response = await production_client.get(path, headers=staff)
        assert response.status_code == 200, path
        hsts = response.headers["Strict-Transport-Security"]
        assert hsts.startswith("max-age=") and int(hsts.split("=")[1].split(";")[0]) >= 31536000
