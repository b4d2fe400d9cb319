"""The Twilio signature check: signed requests pass; forged, missing, replayed-elsewhere
or tampered ones get 403 before anything else runs."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from quart import Quart
from werkzeug.datastructures import MultiDict

from smsbank.app import create_app
from smsbank.core.settings import Settings
from tests.twilio_signing import TwilioSigner, sms_form
from webhooks.signature import signing_token, twilio_signed, verify_twilio_request

PATH = "/test-signed"


@pytest.fixture
async def signed_app(settings: Settings) -> AsyncIterator[Any]:
    """The real app (its JSON error handlers) plus two routes behind the check; no
    database is needed because a signature is checked before anything touches it."""
    app: Quart = create_app(settings.with_overrides(database_url="sqlite://:memory:"))
    calls: list[dict[str, str]] = []

    @app.post(PATH)
    async def signed() -> dict[str, Any]:
        form = await verify_twilio_request()
        calls.append(form)
        return {"form": form}

    @app.post("/test-decorated")
    @twilio_signed
    async def decorated() -> dict[str, Any]:
        from quart import g

        calls.append(g.twilio_form)
        return {"ok": True}

    app.config["TEST_CALLS"] = calls
    async with app.test_app() as test_app:
        yield test_app


async def test_a_signed_request_passes_with_its_form(signed_app: Any, settings: Settings) -> None:
    client = signed_app.test_client()
    form = sms_form("+15550102000", "BAL")
    response = await TwilioSigner(settings).post(client, PATH, form)
    assert response.status_code == 200
    assert (await response.get_json())["form"] == form


async def test_the_decorator_form_works_too(signed_app: Any, settings: Settings) -> None:
    client = signed_app.test_client()
    response = await TwilioSigner(settings).post(client, "/test-decorated", {"Body": "x"})
    assert response.status_code == 200
    assert signed_app.app.config["TEST_CALLS"] == [{"Body": "x"}]


async def test_the_query_string_is_part_of_what_is_signed(
    signed_app: Any, settings: Settings
) -> None:
    client = signed_app.test_client()
    signer = TwilioSigner(settings)
    ok = await signer.post(client, PATH, {"Body": "x"}, query="a=1&b=two")
    assert ok.status_code == 200
    moved = await signer.post(
        client, PATH, {"Body": "x"}, query="a=2", signature=signer.signature(PATH, {"Body": "x"})
    )
    assert moved.status_code == 403


async def test_repeated_fields_are_all_signed(signed_app: Any, settings: Settings) -> None:
    client = signed_app.test_client()
    signer = TwilioSigner(settings)
    form = MultiDict([("MediaUrl", "b"), ("MediaUrl", "a"), ("Body", "x")])
    response = await signer.post(client, PATH, form)
    assert response.status_code == 200
    assert (await response.get_json())["form"] == {"MediaUrl": "b", "Body": "x"}
    # A value added to what was signed is refused.
    only_one = signer.signature(PATH, MultiDict([("MediaUrl", "b"), ("Body", "x")]))
    refused = await signer.post(client, PATH, form, signature=only_one)
    assert refused.status_code == 403


async def test_a_body_that_is_not_utf8_is_refused_not_crashed_on(
    signed_app: Any, settings: Settings
) -> None:
    client = signed_app.test_client()
    signature = TwilioSigner(settings).signature(PATH, {"Body": "x"})
    response = await client.post(
        PATH,
        data=b"Body=\xff",
        headers={
            "Content-Type": "application/x-www-form-urlencoded",
            "X-Twilio-Signature": signature,
        },
    )
    # Twilio signs the text it sends, in UTF-8; these bytes never came from it.
    assert response.status_code == 403
    assert (await response.get_json())["error"]["code"] == "invalid_signature"


async def test_a_signature_over_the_url_with_its_default_port_passes(
    signed_app: Any, settings: Settings
) -> None:
    """Twilio has signed some requests over `https://host:443/...`; its own validator
    accepts both forms, and so do we."""
    from webhooks.signature import sign

    client = signed_app.test_client()
    form = {"Body": "x"}
    with_port = settings.base_url.replace(".test", ".test:443") + PATH
    assert ":443/" in with_port
    signature = sign(settings, with_port, form)
    response = await client.post(PATH, form=form, headers={"X-Twilio-Signature": signature})
    assert response.status_code == 200


@pytest.mark.parametrize("algorithm", ["HMAC_SHA256", "HMAC_MD5"])
async def test_the_signature_algorithm_header_is_honoured(
    signed_app: Any, settings: Settings, algorithm: str
) -> None:
    """Signed with the algorithm the settings header names: SHA-256 passes; one twilio
    does not know is refused, never checked as SHA-1."""
    from twilio.request_validator import RequestValidator

    from webhooks.signature import public_url

    client = signed_app.test_client()
    form = {"Body": "x"}
    validator = RequestValidator(signing_token(settings))
    url = public_url(settings, PATH)
    signature = (
        validator.compute_signature(url, form, algorithm)
        if algorithm == "HMAC_SHA256"
        else validator.compute_signature(url, form)  # a good SHA-1 under a bad header
    )
    headers = {
        "X-Twilio-Signature": signature,
        "X-Twilio-Webhooks-Signature-Settings": f"key=k,algorithm={algorithm}",
    }
    response = await client.post(PATH, form=form, headers=headers)
    assert response.status_code == (200 if algorithm == "HMAC_SHA256" else 403)


@pytest.mark.parametrize(
    "tamper",
    ["missing", "empty", "garbage", "other_token", "changed_body", "added_field", "other_path"],
)
async def test_bad_signatures_are_refused(signed_app: Any, settings: Settings, tamper: str) -> None:
    client = signed_app.test_client()
    signer = TwilioSigner(settings)
    form = sms_form("+15550102000", "WITHDRAW 20")
    good = signer.signature(PATH, form)
    headers: dict[str, str] = {"X-Twilio-Signature": good}
    sent = dict(form)
    if tamper == "missing":
        headers = {}
    elif tamper == "empty":
        headers["X-Twilio-Signature"] = ""
    elif tamper == "garbage":
        headers["X-Twilio-Signature"] = "not-a-signature\u00e9"
    elif tamper == "other_token":
        other = settings.with_overrides(twilio_auth_token="someone-elses-token")
        headers["X-Twilio-Signature"] = TwilioSigner(other).signature(PATH, form)
    elif tamper == "changed_body":
        sent["Body"] = "WITHDRAW 900"
    elif tamper == "added_field":
        sent["Extra"] = "1"
    elif tamper == "other_path":
        headers["X-Twilio-Signature"] = signer.signature("/webhooks/twilio/sms", form)
    response = await client.post(PATH, form=sent, headers=headers)
    assert response.status_code == 403
    body = await response.get_json()
    assert body["error"]["code"] == "invalid_signature"
    assert signed_app.app.config["TEST_CALLS"] == []


async def test_the_host_header_does_not_choose_the_signed_url(
    signed_app: Any, settings: Settings
) -> None:
    """A forger who signs for their own host gains nothing: we check the public URL."""
    client = signed_app.test_client()
    form = {"Body": "x"}
    from webhooks.signature import sign

    forged = sign(settings, "http://localhost" + PATH, form)
    response = await client.post(PATH, form=form, headers={"X-Twilio-Signature": forged})
    assert response.status_code == 403


def test_without_a_twilio_token_the_key_is_derived_from_the_secret(settings: Settings) -> None:
    console = settings.with_overrides(
        twilio_auth_token="", twilio_account_sid="", twilio_phone_number=""
    )
    key = signing_token(console)
    assert key and key != settings.secret_key
    other = console.with_overrides(secret_key="another-secret-key-" + "y" * 32)
    assert signing_token(other) != key
    assert signing_token(settings) == "test-twilio-auth-token"
