"""`POST /webhooks/twilio/voice` and its menu: banking by phone call (SPEC §8).

A registered caller hears a `<Gather>` menu (1 balance, 2 last transactions, 3 a new
code for the pending step, read digit by digit); anyone else hears that the number is
not registered. The menu's `action` is `/webhooks/twilio/voice/menu`, on the public
base URL, so Twilio signs it like any other webhook and we check it the same way.

Outbound calls (the `CALL` command) need no endpoint here: the outbox's Twilio backend
sends their TwiML inline.
"""

from __future__ import annotations

from quart import Blueprint, Response
from quart_schema import hide
from twilio.twiml.voice_response import Gather, VoiceResponse

from smsbank import messages, sms_service
from smsbank.http import settings
from smsbank.i18n import DEFAULT_LANGUAGE, voice
from webhooks.signature import verify_twilio_request
from webhooks.sms import address_field, sid_field, twiml

blueprint = Blueprint("twilio_voice", __name__, url_prefix="/webhooks/twilio")

MENU_PATH = "/webhooks/twilio/voice/menu"
GATHER_TIMEOUT_SECONDS = 6


def menu(prompt: str, language: str) -> Gather:
    """One key press, posted (signed) to the menu endpoint."""
    gather = Gather(
        num_digits=1,
        action=settings().base_url + MENU_PATH,
        method="POST",
        timeout=GATHER_TIMEOUT_SECONDS,
    )
    gather.say(prompt, **voice(language))
    return gather


@blueprint.post("/voice")
@hide
async def post_voice() -> Response:
    """An inbound call: the menu for customers, a polite refusal for anyone else."""
    form = await verify_twilio_request()
    caller = address_field(form, "From", required=True)
    customer = await sms_service.record_call(
        sid_field(form, "CallSid"), caller, address_field(form, "To", required=False)
    )
    response = VoiceResponse()
    if customer is None:
        response.say(messages.voice_not_registered(DEFAULT_LANGUAGE), **voice(DEFAULT_LANGUAGE))
        response.hangup()
        return twiml(response)
    language = customer.language
    response.append(menu(messages.voice_menu(language), language))
    # Reached only when the caller pressed nothing.
    response.say(messages.voice_no_choice(language), **voice(language))
    response.hangup()
    return twiml(response)


@blueprint.post("/voice/menu")
@hide
async def post_voice_menu() -> Response:
    """The caller pressed a key: say what they asked for, then offer the menu again."""
    form = await verify_twilio_request()
    caller = address_field(form, "From", required=True)
    sid_field(form, "CallSid")
    digit = form.get("Digits", "").strip()[:1]
    answer = await sms_service.voice_menu_choice(settings(), caller, digit)
    response = VoiceResponse()
    language = answer.language
    for sentence in answer.say:
        response.say(sentence, **voice(language))
    if answer.menu_again:
        response.append(menu(messages.voice_menu_again(language), language))
        response.say(messages.voice_goodbye(language), **voice(language))
    response.hangup()
    return twiml(response)
