"""The capture page (SPEC §9, §9a): `GET /capture/<token>`, `POST /capture/<token>`
and `POST /capture/<token>/challenge`.

The page is plain HTML, CSS and JavaScript served from this package (no CDN: it must
work on a bank's offline network). With `SMSBANK_LIVENESS=challenge` (the default) it
asks for a head-turn challenge, films the steps and posts the frames with the
challenge's id; a single selfie is refused (422 `challenge_required`). With `off` it
takes one selfie, posted as multipart field `selfie`.

The token in the URL is the only credential, so these routes are public; the handlers
stay thin and the rules live in `smsbank.requests.capture`, `smsbank.faces.challenges`,
`smsbank.faces.challenge_answers` and `smsbank.faces.selfies`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from quart import (
    Blueprint,
    Response,
    jsonify,
    render_template,
    request,
    send_from_directory,
    url_for,
)
from quart_schema import hide

from capture_page.page import customer_language, page_context
from smsbank.core.errors import BankError, ValidationFailed
from smsbank.faces.challenge_answers import refuse_single_selfie, submit_challenge
from smsbank.faces.challenges import issue_challenge
from smsbank.faces.selfies import SelfieOutcome, submit_selfie
from smsbank.http import services, settings
from smsbank.requests.capture import describe

blueprint = Blueprint("capture", __name__, template_folder="templates")
STATIC = Path(__file__).resolve().parent / "static"

# The page runs only its own files; the camera is allowed for this origin only.
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' blob:; "
        "media-src 'self' blob: mediastream:; connect-src 'self'; form-action 'self'; "
        "base-uri 'none'; frame-ancestors 'none'"
    ),
    "Permissions-Policy": "camera=(self), microphone=()",
    "Cache-Control": "no-store",
    "X-Frame-Options": "DENY",
}


@blueprint.errorhandler(BankError)
async def handle_bank_error(error: BankError) -> Response:
    """Errors on this page carry the page's fields too: `{"status": "retry" | "expired"
    | "failed", "message", "attempts_left", "error": {"code", "message"}}`."""
    body = {"error": {"code": error.code, "message": error.message}, **error.extra}
    # A 5xx here (face checks busy, database away) means the selfie was not looked at
    # and the link is still live: the customer may simply try again. Only the bank's
    # own verdicts ("failed", "expired", set in `extra`) end the page.
    body.setdefault("status", "retry")
    body.setdefault("message", error.message)
    response = jsonify(body)
    response.status_code = error.status
    response.headers["Cache-Control"] = "no-store"
    return response


@blueprint.get("/capture_static/<path:filename>")
@hide
async def get_static(filename: str) -> Response:
    """The page's own script and style sheet."""
    response = await send_from_directory(STATIC, filename)
    response.headers["Cache-Control"] = "public, max-age=3600"
    return response


@blueprint.get("/c/<token>")
@hide
async def get_short_link(token: str) -> Response:
    """The short form of a link, as texted (`<base>/c/<token>`): on to the page itself.

    Redirected rather than served here, so the page always runs at `/capture/<token>`,
    the address its script posts to and builds on.
    """
    response = Response("", status=302)
    response.headers["Location"] = url_for("capture.get_capture", token=token)
    response.headers["Cache-Control"] = "no-store"
    response.headers["Referrer-Policy"] = "no-referrer"
    return response


@blueprint.get("/capture/<token>")
@hide
async def get_capture(token: str) -> Response:
    """The capture page, in the state the link is in."""
    view = await describe(settings(), token)
    language = await customer_language(token)
    html = await render_template(
        "capture_page.html", view=view, token=token, **page_context(view, language)
    )
    response = Response(html, status=view.http_status, content_type="text/html; charset=utf-8")
    response.headers.update(SECURITY_HEADERS)
    return response


@blueprint.post("/c/<token>/challenge")
@blueprint.post("/capture/<token>/challenge")
@hide
async def post_challenge(token: str) -> tuple[dict[str, Any], int, dict[str, str]]:
    """A new head-turn challenge for this link (SPEC §9a); the link's earlier one stops
    working."""
    issued = await issue_challenge(settings(), token)
    return issued.json(), 201, {"Cache-Control": "no-store"}


@blueprint.post("/c/<token>")
@blueprint.post("/capture/<token>")  # the one url_for builds: registered first
@hide
async def post_capture(token: str) -> tuple[dict[str, Any], int, dict[str, str]]:
    """The answer to this link's head-turn challenge (`challenge` and one `frame` part
    per frame) or, with `SMSBANK_LIVENESS=off`, a selfie (multipart field `selfie`)."""
    if settings().liveness == "off":
        outcome = await _single_selfie(token)
    else:
        outcome = await _challenge_answer(token)
    return outcome.json(), outcome.http_status, {"Cache-Control": "no-store"}


async def _challenge_answer(token: str) -> SelfieOutcome:
    form = await request.form
    frames = (await request.files).getlist("frame")
    challenge = form.get("challenge")
    if challenge is None or len(frames) <= 1:
        await refuse_single_selfie(token)
    return await submit_challenge(
        settings(), services().face, token, challenge, [frame.stream for frame in frames]
    )


async def _single_selfie(token: str) -> SelfieOutcome:
    files = await request.files
    upload = files.get("selfie")
    if upload is None:
        error = ValidationFailed(
            "No selfie was received. Take the selfie again and press Send.", code="selfie_missing"
        )
        error.extra.update(status="retry", message=error.message)
        raise error
    # One byte over the limit is enough to refuse it as too large.
    photo = upload.read(settings().face_max_upload_bytes + 1)
    return await submit_selfie(settings(), services().face, token, photo)
