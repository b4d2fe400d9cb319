"""Cooling-off: after a face or a number change, no withdrawal for a while.

Why: whoever takes over an account changes what protects it first: the phone number
(a SIM swap, a number change at a branch with a forged ID) or the enrolled face (a
re-enrolment). Both changes are announced to the customer (on the old number, on the
registered phone); the pause gives them time to read the notice, or to notice that
their phone lost service, and to call the bank before money can leave. A first
enrolment is not a change and starts no pause.

`SMSBANK_COOLING_OFF_HOURS` (24 by default: the customer has a day and a night to see
the notice, and a customer who changed their number or face themselves waits only
until the next day). Withdrawals are refused when they start and again when they are
recorded, by SMS and at a branch alike.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from smsbank.core.clock import utcnow
from smsbank.core.errors import Forbidden
from smsbank.core.models import Customer
from smsbank.core.settings import Settings
from smsbank.texts import messages


class WithdrawalsOnHold(Forbidden):
    code = "withdrawals_on_hold"


async def start(settings: Settings, customer_id: int) -> datetime | None:
    """Inside the change's transaction: hold withdrawals from now; returns until when."""
    if settings.cooling_off_hours <= 0:
        return None
    until = utcnow() + timedelta(hours=settings.cooling_off_hours)
    await Customer.filter(id=customer_id).update(withdrawals_held_until=until)
    return until


def ensure_no_hold(customer: Customer) -> None:
    """403 `withdrawals_on_hold` (with `held_until`) while the customer cools off."""
    until = customer.withdrawals_held_until
    if until is not None and until > utcnow():
        raise WithdrawalsOnHold(
            messages.withdrawals_paused(until),
            extra={"held_until": until.isoformat()},
        )
