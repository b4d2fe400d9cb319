"""Guessing capture links learns nothing and costs the real link nothing.

tests/faces/test_capture.py shows an unknown token is 404 and a used or expired one
410. Here an attacker tries near misses of a live link (one character off, another
case, too short or long, the SHA-256 a database leak would show, junk): every guess
gets the very same 404, page and JSON alike, and the live link keeps all its attempts.
A dead link's 410 names no customer, amount, phone or account.
"""

from __future__ import annotations

import io
import re
import secrets
from datetime import timedelta
from typing import Any
from urllib.parse import quote

from quart.datastructures import FileStorage

from smsbank.core.clock import utcnow
from smsbank.core.models import CaptureToken, CaptureTokenStatus, Customer
from smsbank.requests.capture import hash_token
from tests.faces.conftest import token_of

SELFIE = b"\xff\xd8\xff\xe0 not looked at"


def guesses(token: str) -> list[str]:
    flipped = token[:-1] + ("A" if token[-1] != "A" else "B")
    return [
        secrets.token_urlsafe(32),  # right shape, random
        flipped,  # one character off
        token.swapcase(),
        token[:-1],
        token + "A",
        hash_token(token),  # what a leaked database row holds
        "A" * 43,
        quote("😀" * 10),
        "%00" * 5,
    ]


def without_token(html: str) -> str:
    """The page names its own URL (where the form posts): that part is the guess itself."""
    return re.sub(r'data-post-url="[^"]*"', "", html)


async def test_wrong_tokens_all_get_the_same_404_and_the_live_link_is_untouched(
    client: Any, make_customer: Any, open_withdrawal: Any
) -> None:
    customer = await make_customer(name="Eileen Collins")
    _, url = await open_withdrawal(customer, "20.00")
    token = token_of(url)

    pages, answers = set(), []
    for guess in guesses(token):
        page = await client.get(f"/capture/{guess}")
        assert page.status_code == 404, guess
        pages.add(without_token(await page.get_data(as_text=True)))
        posted = await client.post(f"/capture/{guess}", files={"selfie": _file()})
        assert posted.status_code == 404, guess
        answers.append(await posted.get_json())
    assert len(pages) == 1
    assert all(answer == answers[0] for answer in answers)
    assert answers[0]["error"]["code"] == "unknown_link" and answers[0]["status"] == "expired"

    link = await CaptureToken.get(token_hash=hash_token(token))
    assert (link.status, link.attempts_used) == (CaptureTokenStatus.ACTIVE, 0)
    assert (await client.get(f"/capture/{token}")).status_code == 200


async def test_a_dead_links_410_names_nothing(
    client: Any, make_customer: Any, open_withdrawal: Any
) -> None:
    customer: Customer = await make_customer(name="Eileen Collins", phone="+15550191234")
    _, used = await open_withdrawal(customer, "20.00")
    _, expired = await open_withdrawal(customer, "30.00")
    await CaptureToken.filter(token_hash=hash_token(token_of(used))).update(
        status=CaptureTokenStatus.SUCCEEDED, finished_at=utcnow()
    )
    await CaptureToken.filter(token_hash=hash_token(token_of(expired))).update(
        expires_at=utcnow() - timedelta(seconds=1)
    )
    secrets_of_the_customer = ["Eileen", "Collins", "1234", customer.account_number[-4:]]
    secrets_of_the_customer += ["20.00", "30.00"]
    for url in (used, expired):
        token = token_of(url)
        page = await client.get(f"/capture/{token}")
        posted = await client.post(f"/capture/{token}", files={"selfie": _file()})
        assert page.status_code == posted.status_code == 410
        texts = [without_token(await page.get_data(as_text=True)), str(await posted.get_json())]
        for text in texts:
            for secret in secrets_of_the_customer:
                assert secret not in text, (secret, text)


def _file() -> FileStorage:
    return FileStorage(io.BytesIO(SELFIE), filename="s.jpg", content_type="image/jpeg")
