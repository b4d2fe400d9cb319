"""`POST /webhooks/twilio/voice` and its menu: banking by phone call (SPEC §8).

Caller ID can be spoofed, so what a call hears depends on who vouches for the caller
(`smsbank.calls`). A call whose number Twilio attests (`StirVerstat` =
`TN-Validation-Passed-A`) from a customer hears a `<Gather>` menu (1 balance, 2 last
transactions, 3 a new code for the pending step, read digit by digit); an attested
stranger hears that the number is not registered. Any other call hears that the bank
calls the registered number back (if it is one) and hangs up; the call-back, placed
through the outbox, offers the same menu to whoever answers the registered phone.

The menu's `action` is `/webhooks/twilio/voice/menu` on the public base URL, with
`?caller=verified` (an attested call: the caller ID names the customer) or
`?callback=<outbox id>` (a call-back: the call the bank placed names them). Twilio
signs the URL with its query like any other webhook and we check it the same way, so
neither can be forged; a menu request with neither reads nothing.

Outbound calls that only read (the `CALL` command) need no endpoint here: the outbox's
Twilio backend sends their TwiML inline.
"""

from __future__ import annotations

from collections.abc import Callable

from quart import Blueprint, Response, request
from quart_schema import hide
from twilio.twiml.voice_response import Gather, VoiceResponse

from smsbank import calls, messages
from smsbank.errors import ValidationFailed
from smsbank.http import settings
from smsbank.i18n import LANGUAGES, voice
from smsbank.sms import voice_menu
from smsbank.sms_backends import menu_gather
from webhooks.signature import verify_twilio_request
from webhooks.sms import address_field, sid_field, twiml

blueprint = Blueprint("twilio_voice", __name__, url_prefix="/webhooks/twilio")

MAX_OUTBOX_ID = 2**63 - 1


def menu(prompt: str, query: str, language: str) -> Gather:
    """One key press, posted (signed) to the menu endpoint with `query`."""
    return menu_gather(prompt, f"{settings().base_url}{calls.VOICE_MENU_PATH}?{query}", language)


def say_to_anyone(response: VoiceResponse, words: Callable[[str], str]) -> None:
    """Words for a caller the bank does not know yet: in every language it speaks, the
    same whoever calls (a customer's own language would tell a spoofer whose it is)."""
    for language in LANGUAGES:
        response.say(words(language), **voice(language))


@blueprint.post("/voice")
@hide
async def post_voice() -> Response:
    """An inbound call: the menu for an attested customer; otherwise a call-back."""
    form = await verify_twilio_request()
    caller = address_field(form, "From", required=True)
    customer = await voice_menu.record_call(
        sid_field(form, "CallSid"), caller, address_field(form, "To", required=False)
    )
    response = VoiceResponse()
    if not calls.caller_verified(form.get("StirVerstat", "")):
        # The same words whoever calls: a spoofer learns nothing, not even whether the
        # number is a customer's; the registered phone is called back.
        await calls.call_back(settings(), customer)
        say_to_anyone(response, messages.voice_calling_back)
        response.hangup()
        return twiml(response)
    if customer is None:
        say_to_anyone(response, messages.voice_not_registered)
        response.hangup()
        return twiml(response)
    language = customer.language
    response.append(menu(messages.voice_menu(language), calls.VERIFIED_QUERY, language))
    # Reached only when the caller pressed nothing.
    response.say(messages.voice_no_choice(language), **voice(language))
    response.hangup()
    return twiml(response)


@blueprint.post("/voice/menu")
@hide
async def post_voice_menu() -> Response:
    """A key pressed in a menu: say what was asked for, then offer the menu again."""
    form = await verify_twilio_request()
    caller = address_field(form, "From", required=True)
    callee = address_field(form, "To", required=False)
    sid_field(form, "CallSid")
    callback_id = _callback_id(request.args.get("callback"))
    verified = request.args.get("caller") == "verified"
    customer = await calls.menu_customer(
        settings(), caller=caller, callee=callee, verified=verified, callback_id=callback_id
    )
    response = VoiceResponse()
    if customer is None:
        stranger = verified and callback_id is None  # an attested number, no customer's
        say_to_anyone(
            response,
            messages.voice_not_registered if stranger else messages.voice_menu_unavailable,
        )
        response.hangup()
        return twiml(response)
    digit = form.get("Digits", "").strip()[:1]
    answer = await voice_menu.voice_menu_choice(settings(), customer, digit)
    language = answer.language
    for sentence in answer.say:
        response.say(sentence, **voice(language))
    if answer.menu_again:
        query = f"callback={callback_id}" if callback_id is not None else calls.VERIFIED_QUERY
        response.append(menu(messages.voice_menu_again(language), query, language))
        response.say(messages.voice_goodbye(language), **voice(language))
    response.hangup()
    return twiml(response)


def _callback_id(raw: str | None) -> int | None:
    if raw is None or raw == "":
        return None
    if not raw.isascii() or not raw.isdigit() or int(raw) > MAX_OUTBOX_ID:
        raise ValidationFailed("callback must be a call's id", code="invalid_callback")
    return int(raw)
