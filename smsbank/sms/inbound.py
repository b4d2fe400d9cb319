"""An inbound SMS as the bank receives it, and what became of it.

Shared by the module that decides a text's path (`smsbank.sms.router`), both paths
(`smsbank.sms.one_message_path`, `smsbank.sms.group_commit`) and the gates they apply
(`smsbank.sms.gates`), so none of them imports another for its types.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

from smsbank.models import ConversationState

MAX_BODY_CHARS = 1600


class Handled(StrEnum):
    """What became of one inbound SMS (for logs and tests)."""

    PROCESSED = "processed"
    DUPLICATE = "duplicate"
    THROTTLED = "throttled"
    UNREGISTERED = "unregistered"
    OPTED_OUT = "opted_out"


@dataclass(frozen=True)
class InboundSms:
    message_sid: str
    from_phone: str
    to_phone: str
    body: str


@dataclass
class Result:
    handled: Handled
    replies: list[str] = field(default_factory=list)
    state: ConversationState | None = None


def storable_body(body: str) -> str:
    # PostgreSQL text cannot hold NUL; everything else is kept as sent.
    return body[:MAX_BODY_CHARS].replace("\x00", "\ufffd")
