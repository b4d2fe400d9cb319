"""The `conversation` row's one writer.

The request row (a withdrawal or a number change) is the authority on where a customer
stands; the conversation row keeps which request the customer's texts act on, the
state the machine (`smsbank.sms.conversation`) is in, and when the step times out. It is
written here only, by the steps that move it: the SMS turn saves what a text did
(`save`), a request that starts outside a text points the row at itself (`point_at`),
one awaiting its selfie moves it on (`await_selfie`), and one that ends frees it
(`release`). The SMS turn reads it back against the request
(`request_steps.reconciled_state`), so a row left behind by a crash is corrected by the
customer's next text. tests/test_architecture.py fails on a write anywhere else.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from smsbank.models import Conversation, ConversationState

# The request columns a conversation can point at (`RequestKind.id_field`).
REQUEST_FIELDS = ("withdrawal_id", "phone_change_id")


async def load(customer_id: int) -> Conversation:
    """The customer's row, created idle the first time."""
    # get_or_none + create rather than get_or_create: the latter wraps itself in a
    # savepoint, two extra statements on every message; the sender lock (PostgreSQL)
    # or the write lock (SQLite) already makes the create race-free.
    conversation = await Conversation.get_or_none(customer_id=customer_id)
    if conversation is None:
        conversation = await Conversation.create(customer_id=customer_id)
    return conversation


async def save(
    conversation_id: int,
    *,
    state: ConversationState,
    withdrawal_id: int | None,
    phone_change_id: int | None,
    expires_at: datetime | None,
) -> None:
    """What one text did to the conversation (the SMS turn)."""
    await Conversation.filter(id=conversation_id).update(
        state=state,
        withdrawal_id=withdrawal_id,
        phone_change_id=phone_change_id,
        expires_at=expires_at,
    )


async def point_at(
    customer_id: int,
    id_field: str,
    request_id: int,
    state: ConversationState,
    expires_at: datetime,
) -> None:
    """Point the customer's conversation at a request started outside a text."""
    link: dict[str, Any] = {id_field: request_id, "state": state, "expires_at": expires_at}
    if not await Conversation.filter(customer_id=customer_id).update(**link):
        await Conversation.create(customer_id=customer_id, **link)


async def await_selfie(
    id_field: str, request_id: int, state: ConversationState, until: datetime
) -> None:
    """The request's code was accepted: the conversation waits for its selfie until then."""
    await Conversation.filter(**{id_field: request_id}).update(state=state, expires_at=until)


async def release(id_field: str, request_id: int) -> None:
    """The request ended: the conversation pointing at it is idle again."""
    await Conversation.filter(**{id_field: request_id}).update(
        state=ConversationState.IDLE, **{id_field: None}, expires_at=None
    )
