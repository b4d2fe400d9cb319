"""`smsbank demo` / `make run`: a demo customer and the URLs to start from."""

from __future__ import annotations

from decimal import Decimal
from urllib.parse import urlencode

from smsbank.core.customers import create_customer
from smsbank.core.models import Customer
from smsbank.core.settings import DEV_ADMIN_API_KEY, Settings

DEMO_NAME = "Ada Demo"
DEMO_PHONE = "+15555550100"
DEMO_DEPOSIT = Decimal("500.00")


async def ensure_demo(settings: Settings) -> list[str]:
    """Create the demo customer when the bank has none; return the start-here lines."""
    lines: list[str] = []
    customer = await Customer.get_or_none(phone=DEMO_PHONE)
    if customer is None and not await Customer.exists():
        customer = await create_customer(
            DEMO_NAME,
            DEMO_PHONE,
            currency=settings.currency,
            initial_deposit=DEMO_DEPOSIT,
            actor="demo",
        )
        lines.append(f"created demo customer {customer.name} ({customer.phone}) with $500.00")
    base = settings.base_url
    lines.append(f"API docs:        {base}/docs")
    if settings.dev_phone_enabled:
        query = urlencode({"phone": DEMO_PHONE})
        lines.append(f"dev phone:       {base}/dev/phone?{query}  (texts as {DEMO_PHONE})")
    if customer is not None and not customer.face_enrolled:
        link = await _enrolment_link(settings, customer)
        if link:
            minutes = settings.capture_ttl_seconds // 60
            lines.append(f"enrol demo face: {link}")
            lines.append(
                f"                 (valid {minutes} minutes, one face; `smsbank demo` or "
                "`make run` again prints a fresh link until the face is enrolled)"
            )
    key = settings.admin_api_key
    shown = key if settings.env == "development" or key == DEV_ADMIN_API_KEY else key[:6] + "…"
    lines.append(f"admin API key:   {shown}  (Authorization: Bearer <key>)")
    return lines


async def _enrolment_link(settings: Settings, customer: Customer) -> str | None:
    try:
        from smsbank.requests.capture import issue_enrolment_link
    except ImportError:
        return None
    return await issue_enrolment_link(settings, customer, actor="demo")
