"""The gates an inbound SMS passes before the conversation sees it, written once for
both paths (the one-message path, `smsbank.sms.one_message_path`, and the group commit,
`smsbank.sms.group_commit`).

In order: a flood from one number (more than `inbound_rate_limit_per_minute` texts in
the last minute, counting the one at hand) is stored and ignored, except the opt-out
and opt-in keywords, which are always honoured; a number that is no customer's is a
stranger (the one-message path decides whether it gets the "not registered" reply);
an opted-out customer gets nothing until they opt in.

The group commit decides only texts that pass every gate from an idle customer; it
hands the rest to the one-message path, which stores them and applies the same gate.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from smsbank.phones import mask_phone
from smsbank.settings import Settings
from smsbank.sms.conversation import Event, Kind
from smsbank.sms.inbound import Handled

log = logging.getLogger("smsbank.sms")

RATE_WINDOW = timedelta(minutes=1)
# A number's texts since a moment, counted only as far as the flood gate needs (the
# LIMIT, `flood_count_cap`): a number flooding the bank costs no more a text than one
# under it. `{phone}` is the column or the parameter the number comes from.
RECENT_FROM_SQL = """(SELECT COUNT(*) FROM (
    SELECT 1 FROM inbound_message i WHERE i.from_phone = {phone} AND i.created_at >= ?
    LIMIT ?
) AS recent_rows)"""


def flood_count_cap(settings: Settings) -> int:
    """How far a number's recent texts are counted: two past the limit, enough to tell
    the first throttled text (limit + 1, logged) from the rest."""
    return settings.inbound_rate_limit_per_minute + 2


def over_flood_limit(settings: Settings, recent: int) -> bool:
    """Whether `recent` texts from one number in the last minute (counting the one at
    hand) are more than the limit allows."""
    return recent > settings.inbound_rate_limit_per_minute


def is_opt_keyword(event: Event) -> bool:
    return event.kind in (Kind.OPT_OUT, Kind.OPT_IN)


def stopped_by(
    settings: Settings, event: Event, *, customer: bool, opted_out: bool, recent: int
) -> Handled | None:
    """The gate that stops this text (see the module docstring), or None: it goes on to
    the conversation. `recent` counts the number's texts of the last minute with this
    one; `customer` says whether the number is a customer's."""
    keyword = is_opt_keyword(event)
    if not keyword and over_flood_limit(settings, recent):
        return Handled.THROTTLED
    if not customer:
        return Handled.UNREGISTERED
    if opted_out and event.kind != Kind.OPT_IN:
        # Twilio would refuse to deliver anything anyway; the customer asked for silence.
        return Handled.OPTED_OUT
    return None


def log_flood_onset(settings: Settings, phone: str, recent: int) -> None:
    """Log a number's first throttled text of a flood, not each one."""
    if recent == settings.inbound_rate_limit_per_minute + 1:
        log.warning("inbound sms throttled", extra={"from": mask_phone(phone)})
