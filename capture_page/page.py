"""What the capture page's template and script need to speak the customer's language.

The template calls `_` (gettext) for its own words; the script gets its words as a JSON
object (`page_strings`), keyed by the English msgid, so a sentence the script shows is
translated here, on the server, like every other. Sentences decided by the bank
(`smsbank.requests.capture.describe`'s title and detail) are `Text` and are said again in the
customer's language.

The script words every answer it knows by its code (`error.code`, or the liveness
`reason`) and by its status, never with the server's message: the server's messages
are shared with the staff API and may be a developer's wording ("the photo must be a
JPEG, PNG or WebP image"). The server's message is shown only for an answer the page
does not know.
"""

from __future__ import annotations

import json
from typing import Any

from smsbank.core.errors import NotFound
from smsbank.core.models import Customer
from smsbank.requests.capture import CaptureView, find_token
from smsbank.texts.i18n import DEFAULT_LANGUAGE, N_, Text, catalog, localize, strings

# Every sentence the scripts may show (page.js, selfie.js, challenge.js).
SCRIPT_STRINGS = (
    # the camera
    N_("This browser cannot open the camera here."),
    N_("The camera was not allowed."),
    N_("The camera could not be opened."),
    N_("Take a selfie with your phone's camera instead."),
    N_("Take a selfie with your phone's camera instead, or allow the camera and reload the page."),
    N_("Take a selfie with your phone's camera."),
    N_("To try again, allow the camera for this page and press Try the camera again."),
    # the head-turn steps
    N_("Look straight at the camera"),
    N_("Turn your head to your left"),
    N_("Turn your head to your right"),
    N_("Look straight at the camera again"),
    # the answer, by status
    N_("Withdrawal approved"),
    N_(
        "It's you: your withdrawal is approved. We have sent you a text with its reference. "
        "You can close this page."
    ),
    N_("Phone number changed"),
    N_("It's you: your phone number is changed. Both numbers get a text. You can close this page."),
    N_("Face enrolled"),
    N_(
        "Your face is enrolled. From now on, a selfie approves your withdrawals. You can "
        "close this page."
    ),
    N_("Not approved"),
    N_("This link no longer works"),
    N_(
        "That selfie did not match your enrolled face. Face the camera in good light and try again."
    ),
    # the answer, by error code
    N_("That file is not a photo. Take a selfie with the camera and send it."),
    N_("That photo is too large. Take a new selfie with the camera and send it."),
    N_("That photo could not be opened. Please take it again."),
    N_("We did not receive a photo. Please take your selfie again."),
    N_(
        "We could not find a face in the photo. Face the camera in good light, with nothing "
        "covering your face, and try again."
    ),
    N_(
        "There is more than one face in the photo. Make sure only you are in the picture "
        "and try again."
    ),
    N_("Your face is too small in the photo. Hold the phone closer and try again."),
    N_("We cannot check selfies right now. Please wait a minute and try again."),
    N_("This link has already been used. Each link works only once."),
    N_("This link has expired. Links work for 10 minutes; please ask for a new one."),
    N_("This link is not valid. Check that you opened the whole link from our text."),
    N_("The head-turn check has to start again. Press Try again and follow the arrows."),
    N_("The head-turn check took too long. Press Try again and follow the arrows."),
    N_("The pictures of the check could not be used. Please try again."),
    N_("Too many checks were started on this link. Please ask for a new link."),
    # anything else
    N_("Something went wrong. Please try again."),
    N_("Your answer could not be sent. Check your connection and try again."),
)


async def customer_language(token: str) -> str:
    """The language of the customer the link is for; the default for an unknown link."""
    try:
        record = await find_token(token)
    except NotFound:
        return DEFAULT_LANGUAGE.value
    customer = await Customer.get_or_none(id=record.customer_id)
    return str(customer.language) if customer is not None else DEFAULT_LANGUAGE.value


def attempts_left_words(language: str, most: int) -> dict[str, str]:
    """ "1 attempt left", "2 attempts left"... for every count the page can show."""
    return {
        str(count): localize(
            Text.counted("{count} attempt left", "{count} attempts left", count), language
        )
        for count in range(most + 1)
    }


def page_context(view: CaptureView, language: str) -> dict[str, Any]:
    """The template's context beyond the view: the language, `_`, the script's words, and
    how the page answers (`liveness`: "challenge" films head turns, "off" one selfie)."""
    script_words = {
        "strings": strings(language, SCRIPT_STRINGS),
        "attempts": attempts_left_words(language, view.attempts_left),
    }
    return {
        "language": language,
        "liveness": view.liveness,
        "_": catalog(language).gettext,
        "title": localize(view.title, language) if view.title else "",
        "detail": localize(view.detail, language) if view.detail else "",
        "script_words": json.dumps(script_words, ensure_ascii=False),
    }
