"""A daily cap on wrong codes, per customer: the long-term limit on guessing.

Why: a request allows 5 wrong codes and a customer gets at most 5 codes per 10
minutes, which still left an attacker texting from (or spoofing) the customer's number
about 3,600 guesses a day. Here every wrong code counts for 24 hours: once a customer
has `SMSBANK_WRONG_CODES_PER_DAY` (10: two requests' worth of mistakes) of them,
withdrawals and number changes by SMS lock (`codes_locked`) until staff lift it (`PATCH
/api/v1/customers/{id}` `{"codes_locked": false}`, audited), which also starts the count
afresh (`codes_unlocked_at`). The lock is audited (`codes.locked`) and the customer is
texted. A branch still serves the customer in person.

The count is the sum of `code_failures` of the customer's withdrawals and number
changes created in the last 24 hours (a request lives 15 minutes), read from the
database when a wrong code is counted, so every worker sees the same total.
"""

from __future__ import annotations

from datetime import timedelta

from smsbank.core import audit
from smsbank.core.clock import utcnow
from smsbank.core.errors import Forbidden
from smsbank.core.models import Channel, Customer, PhoneChange, Withdrawal
from smsbank.core.settings import Settings
from smsbank.outbox import enqueue_sms
from smsbank.texts import messages

WINDOW = timedelta(hours=24)


class CodesLocked(Forbidden):
    code = "codes_locked"


def ensure_unlocked(customer: Customer, channel: Channel) -> None:
    """403 `codes_locked` for a request by SMS while the customer's codes are locked."""
    if channel == Channel.SMS and customer.codes_locked:
        raise CodesLocked(messages.codes_locked_refusal())


async def wrong_codes_today(customer: Customer) -> int:
    """Wrong codes counted against the customer's requests in the last 24 hours (since
    staff last lifted the lock, if that is later)."""
    since = utcnow() - WINDOW
    if customer.codes_unlocked_at is not None and customer.codes_unlocked_at > since:
        since = customer.codes_unlocked_at
    total = 0
    for model in (Withdrawal, PhoneChange):
        rows = await model.filter(customer_id=customer.id, created_at__gte=since).values(
            "code_failures"
        )
        total += sum(int(row["code_failures"]) for row in rows)
    return total


async def lock_if_over(settings: Settings, customer: Customer, *, actor: str) -> bool:
    """Inside the transaction that counted a wrong code on its request: lock SMS
    withdrawals and number changes once the day's cap is reached. True when this call
    locked them (audited, and the customer is texted)."""
    if settings.wrong_codes_per_day <= 0:
        return False
    wrong = await wrong_codes_today(customer)
    if wrong < settings.wrong_codes_per_day:
        return False
    if not await Customer.filter(id=customer.id, codes_locked=False).update(codes_locked=True):
        return False  # locked already
    customer.codes_locked = True
    await audit.record(
        "codes.locked",
        actor=actor,
        customer_id=customer.id,
        wrong_codes=wrong,
        window_hours=int(WINDOW.total_seconds() // 3600),
    )
    await enqueue_sms(
        settings,
        to=customer.phone,
        body=messages.codes_locked(customer.language),
        template="codes_locked",
        customer_id=customer.id,
        respect_opt_out=False,
    )
    return True
