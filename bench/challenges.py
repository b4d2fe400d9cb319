"""Head-turn challenges answered over HTTP, as a phone's capture page answers them, for
the isolation measurement of `bench/run.py` (webhook p99 while 4 challenges are decided
at once).

Each answer enrols a fresh customer through an enrolment link: a link is good for one
success, and an enrolment needs no withdrawal first. The links are fetched before the
measurement (from the console backend's dev phone), so only the challenges load the
bank while the webhooks are timed. The frames are a synthetic genuine head turn
(tests/head_turns.py), one sequence per order of the steps.
"""

from __future__ import annotations

import json
import os
import re
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from pathlib import Path
from urllib.parse import quote

STEP_ORDERS = (("left", "right"), ("right", "left"))
_LINK = re.compile(r"/c/([A-Za-z0-9_-]{22,43})")


def genuine_sequences(workdir: Path, frames: int = 15) -> dict[tuple[str, ...], list[bytes]]:
    """The frames of a genuine head turn, for each order: scikit-image's astronaut photo
    (a package photo, so the bench runs anywhere), re-rendered turning."""
    from PIL import Image
    from skimage import data

    from tests import head_turns

    photo = workdir / "head_turn.jpg"
    Image.fromarray(data.astronaut()).save(photo, "JPEG", quality=92)
    return {steps: head_turns.genuine(photo, steps, frames) for steps in STEP_ORDERS}


def enrolment_tokens(base: str, admin_key: str, customers: Sequence[tuple[int, str]]) -> list[str]:
    """An enrolment link's token for each (customer id, phone), read from the text."""
    tokens = []
    for customer_id, phone in customers:
        request = urllib.request.Request(
            f"{base}/api/v1/customers/{customer_id}/enrolment-link",
            data=b"{}",
            headers={"Authorization": f"Bearer {admin_key}", "Content-Type": "application/json"},
            method="POST",
        )
        urllib.request.urlopen(request, timeout=30).close()
        with urllib.request.urlopen(
            f"{base}/dev/messages?phone={quote(phone)}", timeout=30
        ) as response:
            texts = json.loads(response.read())["messages"]
        found = [m for m in (_LINK.search(text["body"]) for text in texts) if m]
        if not found:
            raise RuntimeError(f"no enrolment link was texted to {phone}")
        tokens.append(found[-1].group(1))
    return tokens


def _multipart(challenge: str, frames: Sequence[bytes]) -> tuple[bytes, str]:
    boundary = "----smsbankbench" + os.urandom(8).hex()
    parts = [
        f'--{boundary}\r\nContent-Disposition: form-data; name="challenge"\r\n\r\n'
        f"{challenge}\r\n".encode()
    ]
    for number, frame in enumerate(frames):
        head = (
            f'--{boundary}\r\nContent-Disposition: form-data; name="frame"; '
            f'filename="{number}.jpg"\r\nContent-Type: image/jpeg\r\n\r\n'
        )
        parts.append(head.encode() + frame + b"\r\n")
    parts.append(f"--{boundary}--\r\n".encode())
    return b"".join(parts), f"multipart/form-data; boundary={boundary}"


def answer_challenge(
    base: str, token: str, sequences: dict[tuple[str, ...], list[bytes]]
) -> tuple[float, str]:
    """Ask for a challenge, answer it: (seconds from the upload to the answer, status).

    Any decision counts for the load (the frames were decided). A 503 (the face engine
    busy: the link and its attempts are intact) is `busy`, which the caller retries as
    the page would; any other refusal stops the bench."""
    asked = urllib.request.Request(f"{base}/capture/{token}/challenge", data=b"", method="POST")
    with urllib.request.urlopen(asked, timeout=30) as response:
        issued = json.loads(response.read())
    body, content_type = _multipart(issued["challenge"], sequences[tuple(issued["steps"])])
    request = urllib.request.Request(
        f"{base}/capture/{token}",
        data=body,
        headers={"Content-Type": content_type},
        method="POST",
    )
    started = time.perf_counter()
    try:
        with urllib.request.urlopen(request, timeout=120) as response:
            result = json.loads(response.read())
    except urllib.error.HTTPError as exc:
        if exc.code != 503:
            raise
        return time.perf_counter() - started, "busy"
    return time.perf_counter() - started, str(result["status"])
