"""The head-turn challenge's HTTP contract (SPEC §9a) on capture links: issuing,
voiding, expiry and reuse of challenges, and every malformed answer refused with a
clear 4xx before any face work, using no attempt of the link.

What the frames then decide (genuine turns, attacks, lock-out) is in
tests/faces/test_challenge_decisions.py.
"""

from __future__ import annotations

import asyncio
import io
import re
from datetime import timedelta
from typing import Any

import pytest
from PIL import Image
from quart.datastructures import FileStorage
from werkzeug.datastructures import MultiDict
from werkzeug.test import encode_multipart

from smsbank.core.clock import utcnow
from smsbank.core.errors import Gone
from smsbank.core.models import (
    AuditEvent,
    CaptureToken,
    CaptureTokenStatus,
    Customer,
    LivenessChallenge,
    LivenessChallengeStatus,
)
from smsbank.core.settings import Settings
from smsbank.faces.challenges import (
    CHALLENGE_TTL_SECONDS,
    MAX_CHALLENGES_PER_LINK,
    liveness_config,
    use_challenge,
)
from smsbank.requests.capture import hash_token, issue_enrolment_link
from tests.faces.conftest import jpeg, noise_jpeg, path_of, token_of


def frame_parts(frames: list[bytes], challenge: str | None) -> dict[str, Any]:
    """The multipart body the page posts: `challenge` and one `frame` part per frame,
    in order (repeated parts: the test client's `files` keeps one per name)."""
    fields: list[tuple[str, Any]] = [] if challenge is None else [("challenge", challenge)]
    fields += [
        ("frame", FileStorage(io.BytesIO(data), filename=f"{n}.jpg", content_type="image/jpeg"))
        for n, data in enumerate(frames)
    ]
    boundary, body = encode_multipart(MultiDict(fields))
    return {
        "data": body,
        "headers": {"Content-Type": f"multipart/form-data; boundary={boundary}"},
    }


async def new_challenge(client: Any, url: str) -> dict[str, Any]:
    response = await client.post(path_of(url) + "/challenge")
    assert response.status_code == 201, await response.get_data(as_text=True)
    return dict(await response.get_json())


async def post_frames(
    client: Any, url: str, frames: list[bytes], challenge: str | None
) -> tuple[int, dict[str, Any]]:
    response = await client.post(path_of(url), **frame_parts(frames, challenge))
    return response.status_code, await response.get_json()


async def link_state(url: str) -> tuple[int, CaptureTokenStatus]:
    record = await CaptureToken.get(token_hash=hash_token(token_of(url)))
    return record.attempts_used, record.status


@pytest.fixture(scope="module")
def still_frame(astronaut: Image.Image) -> bytes:
    """One 480x480 camera frame (the astronaut looking at the camera)."""
    return jpeg(astronaut.resize((480, 480)), quality=85)


@pytest.fixture
def min_frames(settings: Settings) -> int:
    return liveness_config(settings).min_frames


@pytest.fixture
def max_frames(settings: Settings) -> int:
    return liveness_config(settings).max_frames


@pytest.fixture
async def customer(
    face_app: Any, make_customer: Any, enrol: Any, astronaut_jpeg: bytes
) -> Customer:
    return await enrol(await make_customer(name="Eileen Collins"), astronaut_jpeg)


@pytest.fixture
async def link(customer: Customer, open_withdrawal: Any) -> str:
    _, url = await open_withdrawal(customer, "20")
    return str(url)


# -- the default ------------------------------------------------------------------------


def test_the_challenge_is_the_default() -> None:
    assert Settings().liveness == "challenge"
    assert Settings.from_env(environ={}, dotenv_path=None).liveness == "challenge"
    assert Settings().liveness_min_yaw == 15.0


# -- issuing ------------------------------------------------------------------------------


async def test_a_challenge_names_both_turns_its_lifetime_and_the_frames_it_takes(
    face_client: Any, link: str, min_frames: int, max_frames: int
) -> None:
    issued = await new_challenge(face_client, link)
    assert set(issued) == {"challenge", "steps", "expires_in", "min_frames", "max_frames"}
    assert sorted(issued["steps"]) == ["left", "right"]
    assert issued["expires_in"] == CHALLENGE_TTL_SECONDS == 60
    assert (issued["min_frames"], issued["max_frames"]) == (min_frames, max_frames)
    assert 1 < min_frames < max_frames
    # 16 random bytes, URL-safe; only a hash of it is stored.
    assert re.fullmatch(r"[A-Za-z0-9_-]{22}", issued["challenge"])
    stored = await LivenessChallenge.get()
    assert issued["challenge"] not in stored.challenge_hash
    assert stored.status == LivenessChallengeStatus.ISSUED
    assert stored.steps == ",".join(issued["steps"])
    # Asking for a challenge uses no attempt.
    assert await link_state(link) == (0, CaptureTokenStatus.ACTIVE)


async def test_the_order_of_the_turns_is_drawn_for_each_challenge(
    face_client: Any, link: str
) -> None:
    # 20 draws all alike would happen about once in a million runs.
    draws = MAX_CHALLENGES_PER_LINK
    orders = {tuple((await new_challenge(face_client, link))["steps"]) for _ in range(draws)}
    assert orders == {("left", "right"), ("right", "left")}


async def test_the_short_link_issues_challenges_too(face_client: Any, link: str) -> None:
    response = await face_client.post(f"/c/{token_of(link)}/challenge")
    assert response.status_code == 201
    assert response.headers["Cache-Control"] == "no-store"


async def test_a_new_challenge_voids_the_earlier_one(
    face_client: Any, link: str, still_frame: bytes, min_frames: int
) -> None:
    first = await new_challenge(face_client, link)
    second = await new_challenge(face_client, link)
    assert first["challenge"] != second["challenge"]
    statuses = [c.status for c in await LivenessChallenge.all().order_by("id")]
    assert statuses == [LivenessChallengeStatus.VOIDED, LivenessChallengeStatus.ISSUED]
    status, body = await post_frames(
        face_client, link, [still_frame] * min_frames, first["challenge"]
    )
    assert (status, body["error"]["code"], body["status"]) == (410, "challenge_voided", "retry")
    assert body["attempts_left"] == 3
    assert await link_state(link) == (0, CaptureTokenStatus.ACTIVE)


async def test_two_challenges_asked_at_once_leave_one_live(face_client: Any, link: str) -> None:
    await asyncio.gather(*(new_challenge(face_client, link) for _ in range(4)))
    live = await LivenessChallenge.filter(status=LivenessChallengeStatus.ISSUED).count()
    assert live == 1
    assert await LivenessChallenge.all().count() == 4


async def test_a_link_gets_a_bounded_number_of_challenges(face_client: Any, link: str) -> None:
    for _ in range(MAX_CHALLENGES_PER_LINK):
        await new_challenge(face_client, link)
    response = await face_client.post(path_of(link) + "/challenge")
    assert response.status_code == 429
    body = await response.get_json()
    assert body["error"]["code"] == "too_many_challenges"
    assert body["status"] == "failed"  # the page ends: no "try again" that can only fail
    assert await LivenessChallenge.all().count() == MAX_CHALLENGES_PER_LINK
    assert await LivenessChallenge.filter(status=LivenessChallengeStatus.ISSUED).count() == 1


@pytest.mark.parametrize("token", ["nope", "A" * 22, "A" * 43])
async def test_a_challenge_for_an_unknown_link_is_404(face_client: Any, token: str) -> None:
    response = await face_client.post(f"/capture/{token}/challenge")
    assert response.status_code == 404
    body = await response.get_json()
    assert (body["error"]["code"], body["status"]) == ("unknown_link", "expired")
    assert await LivenessChallenge.all().count() == 0


async def test_a_challenge_for_an_expired_or_used_link_is_410(
    face_client: Any, customer: Customer, open_withdrawal: Any
) -> None:
    _, expired = await open_withdrawal(customer)
    await CaptureToken.filter(token_hash=hash_token(token_of(expired))).update(
        expires_at=utcnow() - timedelta(seconds=1)
    )
    response = await face_client.post(path_of(expired) + "/challenge")
    assert response.status_code == 410
    assert (await response.get_json())["error"]["code"] == "link_expired"

    _, used = await open_withdrawal(customer)
    await CaptureToken.filter(token_hash=hash_token(token_of(used))).update(
        status=CaptureTokenStatus.SUCCEEDED
    )
    response = await face_client.post(path_of(used) + "/challenge")
    assert response.status_code == 410
    assert (await response.get_json())["error"]["code"] == "link_used"
    assert await LivenessChallenge.all().count() == 0


# -- answers refused before any face work ---------------------------------------------------


async def test_a_single_selfie_needs_the_challenge_and_uses_no_attempt(
    face_client: Any, link: str, still_frame: bytes
) -> None:
    selfie = {"selfie": FileStorage(io.BytesIO(still_frame), filename="s.jpg")}
    response = await face_client.post(path_of(link), files=selfie)
    assert response.status_code == 422
    body = await response.get_json()
    assert (body["error"]["code"], body["status"], body["attempts_left"]) == (
        "challenge_required",
        "retry",
        3,
    )
    assert "head-turn" in body["message"]
    # A single frame, with or without a challenge, is no answer either.
    issued = await new_challenge(face_client, link)
    for challenge in (None, issued["challenge"]):
        status, body = await post_frames(face_client, link, [still_frame], challenge)
        assert (status, body["error"]["code"]) == (422, "challenge_required")
    assert await link_state(link) == (0, CaptureTokenStatus.ACTIVE)
    # The challenge was not spent by those posts.
    assert (await LivenessChallenge.get()).status == LivenessChallengeStatus.ISSUED


async def test_frames_without_a_challenge_need_one(
    face_client: Any, link: str, still_frame: bytes, min_frames: int
) -> None:
    status, body = await post_frames(face_client, link, [still_frame] * min_frames, None)
    assert (status, body["error"]["code"]) == (422, "challenge_required")
    assert await link_state(link) == (0, CaptureTokenStatus.ACTIVE)


async def test_a_dead_link_answers_404_or_410_before_asking_for_a_challenge(
    face_client: Any, still_frame: bytes
) -> None:
    selfie = {"selfie": FileStorage(io.BytesIO(still_frame), filename="s.jpg")}
    response = await face_client.post("/capture/" + "A" * 22, files=selfie)
    assert response.status_code == 404
    assert (await response.get_json())["error"]["code"] == "unknown_link"


def _sized(image: Image.Image, width: int, height: int) -> bytes:
    return jpeg(image.resize((width, height)), quality=85)


MALFORMED = {
    # name: (frames(still, astronaut, min, max) -> list[bytes], status, code)
    "too_few": (lambda s, a, lo, hi: [s] * (lo - 1), 422, "too_few_frames"),
    "too_many": (lambda s, a, lo, hi: [s] * (hi + 1), 422, "too_many_frames"),
    "not_images": (
        lambda s, a, lo, hi: [s] * (lo - 1) + [b"%PDF-1.4 not a picture"],
        415,
        "unsupported_photo_type",
    ),
    "png_frame": (
        lambda s, a, lo, hi: [s] * (lo - 1) + [_png(a.resize((480, 480)))],
        415,
        "frame_not_jpeg",
    ),
    "damaged": (
        lambda s, a, lo, hi: [s] * (lo - 1) + [s[:40]],
        422,
        "photo_unreadable",
    ),
    "sizes_differ": (
        lambda s, a, lo, hi: [s] * (lo - 1) + [_sized(a, 480, 360)],
        422,
        "frame_sizes_differ",
    ),
    "over_640px": (
        lambda s, a, lo, hi: [_sized(a, 800, 800)] * lo,
        422,
        "frame_too_big",
    ),
    "frame_over_its_byte_cap": (
        lambda s, a, lo, hi: [s] * (lo - 1) + [noise_jpeg(640, 640)],
        413,
        "frame_too_large",
    ),
}


def _png(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    return buffer.getvalue()


@pytest.mark.parametrize("case", sorted(MALFORMED))
async def test_a_malformed_answer_is_a_clear_4xx_and_uses_no_attempt(
    face_client: Any,
    link: str,
    still_frame: bytes,
    astronaut: Image.Image,
    min_frames: int,
    max_frames: int,
    case: str,
) -> None:
    make, expected_status, expected_code = MALFORMED[case]
    issued = await new_challenge(face_client, link)
    frames = make(still_frame, astronaut, min_frames, max_frames)
    status, body = await post_frames(face_client, link, frames, issued["challenge"])
    assert (status, body["error"]["code"]) == (expected_status, expected_code), body
    assert body["status"] == "retry" and body["attempts_left"] == 3
    assert body["message"] == body["error"]["message"] and body["message"]
    assert await link_state(link) == (0, CaptureTokenStatus.ACTIVE)
    # Nothing was decided: the challenge can still be answered.
    assert (await LivenessChallenge.get()).status == LivenessChallengeStatus.ISSUED
    assert not await AuditEvent.filter(action="liveness.decided").exists()


async def test_frames_over_the_total_cap_are_413(
    face_client: Any, settings: Settings, link: str, still_frame: bytes, min_frames: int
) -> None:
    small = settings.with_overrides(
        liveness_max_frame_bytes=len(still_frame),
        liveness_max_upload_bytes=len(still_frame) * (min_frames - 1),
    )
    face_client.app.config["SMSBANK_SETTINGS"] = small
    issued = await new_challenge(face_client, link)
    status, body = await post_frames(
        face_client, link, [still_frame] * min_frames, issued["challenge"]
    )
    assert (status, body["error"]["code"], body["status"]) == (413, "frames_too_large", "retry")
    assert await link_state(link) == (0, CaptureTokenStatus.ACTIVE)


@pytest.mark.parametrize("challenge", ["", "nope", "A" * 22, "A" * 200])
async def test_an_unknown_challenge_is_404_and_uses_no_attempt(
    face_client: Any, link: str, still_frame: bytes, min_frames: int, challenge: str
) -> None:
    await new_challenge(face_client, link)
    status, body = await post_frames(face_client, link, [still_frame] * min_frames, challenge)
    assert (status, body["error"]["code"], body["status"]) == (404, "challenge_unknown", "retry")
    assert await link_state(link) == (0, CaptureTokenStatus.ACTIVE)


async def test_another_links_challenge_is_unknown_here(
    face_client: Any,
    customer: Customer,
    open_withdrawal: Any,
    link: str,
    still_frame: bytes,
    min_frames: int,
) -> None:
    _, other = await open_withdrawal(customer, "30")
    issued = await new_challenge(face_client, other)
    status, body = await post_frames(
        face_client, link, [still_frame] * min_frames, issued["challenge"]
    )
    assert (status, body["error"]["code"]) == (404, "challenge_unknown")
    assert await link_state(link) == (0, CaptureTokenStatus.ACTIVE)


async def test_a_challenge_older_than_a_minute_is_410_and_uses_no_attempt(
    face_client: Any, link: str, still_frame: bytes, min_frames: int
) -> None:
    issued = await new_challenge(face_client, link)
    await LivenessChallenge.all().update(
        issued_at=utcnow() - timedelta(seconds=CHALLENGE_TTL_SECONDS + 1)
    )
    status, body = await post_frames(
        face_client, link, [still_frame] * min_frames, issued["challenge"]
    )
    assert (status, body["error"]["code"], body["status"]) == (410, "challenge_expired", "retry")
    assert "Start the check again" in body["message"]
    assert await link_state(link) == (0, CaptureTokenStatus.ACTIVE)


async def test_a_used_challenge_is_410(
    face_client: Any, link: str, still_frame: bytes, min_frames: int
) -> None:
    issued = await new_challenge(face_client, link)
    await LivenessChallenge.all().update(status=LivenessChallengeStatus.USED)
    status, body = await post_frames(
        face_client, link, [still_frame] * min_frames, issued["challenge"]
    )
    assert (status, body["error"]["code"]) == (410, "challenge_used")
    assert await link_state(link) == (0, CaptureTokenStatus.ACTIVE)


async def test_a_challenge_is_used_once_even_when_two_answers_race(
    face_client: Any, link: str
) -> None:
    await new_challenge(face_client, link)
    record = await CaptureToken.get(token_hash=hash_token(token_of(link)))
    challenge = await LivenessChallenge.get()
    outcomes = await asyncio.gather(
        *(use_challenge(record, challenge) for _ in range(4)), return_exceptions=True
    )
    assert sum(outcome is None for outcome in outcomes) == 1
    refused = [o for o in outcomes if o is not None]
    assert all(isinstance(o, Gone) and o.code == "challenge_used" for o in refused)
    assert (await LivenessChallenge.get()).status == LivenessChallengeStatus.USED


async def test_a_challenge_too_old_cannot_be_used_even_if_it_was_found_in_time(
    face_client: Any, link: str
) -> None:
    await new_challenge(face_client, link)
    record = await CaptureToken.get(token_hash=hash_token(token_of(link)))
    challenge = await LivenessChallenge.get()
    await LivenessChallenge.all().update(
        issued_at=utcnow() - timedelta(seconds=CHALLENGE_TTL_SECONDS, milliseconds=1)
    )
    with pytest.raises(Gone) as refused:
        await use_challenge(record, challenge)
    assert refused.value.code == "challenge_expired"


async def test_an_enrolment_link_asks_for_the_challenge_too(
    face_client: Any, settings: Settings, make_customer: Any, still_frame: bytes
) -> None:
    customer = await make_customer(name="New Customer")
    url = await issue_enrolment_link(settings, customer, actor="test")
    selfie = {"selfie": FileStorage(io.BytesIO(still_frame), filename="s.jpg")}
    response = await face_client.post(path_of(url), files=selfie)
    assert response.status_code == 422
    assert (await response.get_json())["error"]["code"] == "challenge_required"
    issued = await new_challenge(face_client, url)
    assert sorted(issued["steps"]) == ["left", "right"]
    assert not (await Customer.get(id=customer.id)).face_enrolled


# -- liveness off -----------------------------------------------------------------------------


@pytest.fixture
def liveness_off(face_client: Any, settings: Settings) -> Settings:
    off = settings.with_overrides(liveness="off")
    face_client.app.config["SMSBANK_SETTINGS"] = off
    return off


async def test_with_liveness_off_a_single_selfie_verifies_and_no_challenge_is_issued(
    liveness_off: Settings, face_client: Any, link: str, astronaut_jpeg: bytes
) -> None:
    response = await face_client.post(path_of(link) + "/challenge")
    assert response.status_code == 409
    assert (await response.get_json())["error"]["code"] == "challenge_not_needed"
    selfie = {"selfie": FileStorage(io.BytesIO(astronaut_jpeg), filename="s.jpg")}
    response = await face_client.post(path_of(link), files=selfie)
    assert response.status_code == 200
    body = await response.get_json()
    assert body["status"] == "verified" and "reason" not in body
