"""What the customer reads when they ask for their balance, profile or history (the
texts themselves are in `smsbank.messages`; this reads what they show)."""

from __future__ import annotations

from smsbank import ledger, messages
from smsbank.models import Customer
from smsbank.money import from_minor

HISTORY_SIZE = 5


def balance_text(customer: Customer) -> str:
    return messages.balance(
        customer.language, customer.balance, customer.currency, customer.account_number
    )


def profile_text(customer: Customer) -> str:
    return messages.profile(
        customer.language,
        customer.name,
        customer.account_number,
        customer.phone,
        customer.face_enrolled,
    )


async def history_text(customer: Customer) -> str:
    entries = await ledger.recent_entries(customer.id, HISTORY_SIZE)
    language = customer.language
    lines = [
        messages.history_line(
            language,
            entry.created_at.day,
            entry.created_at.month,
            entry.kind.value,
            entry.amount,
            customer.currency,
            entry.reference,
        )
        for entry in entries
    ]
    # The newest entry's balance: the balance at the moment of the newest line.
    balance = from_minor(entries[0].balance_after_minor) if entries else customer.balance
    return messages.history(language, lines, balance, customer.currency)
