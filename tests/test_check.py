"""`smsbank check`, the go-live check: each line's PASS and FAIL with real parts (a real
database, the real face model, real https with a test authority, the real twilio
library against the fake Twilio), and the command itself, exit status included."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from tortoise import Tortoise, connections

from smsbank.api.health import instance_proof
from smsbank.db import apply_migrations, migrations_location, tortoise_config
from smsbank.preflight import (
    FAIL,
    PASS,
    WARN,
    Finding,
    database_finding,
    face_finding,
    public_url_finding,
    settings_finding,
    twilio_findings,
)
from smsbank.settings import Settings
from tests.bank_server import BankProcess
from tests.conftest import POSTGRES_URL
from tests.fake_twilio import FakeTwilio, free_port
from tests.tls import Certificates, make_certificates

SERVICE = "MG" + "c4" * 16
NUMBER = "+15550001111"
# Settings production accepts: random-looking secrets and a real Twilio backend.
PRODUCTION = {
    "env": "production",
    "secret_key": "tV3q-9LxW_pZr2KcYh7NbE4sJuA6mGdF0oQi8Rw1XyTn",
    "admin_api_key": "sbk_Qm7rT2vLx9KpW4zNc8HbY3fJ",
    "sms_backend": "twilio",
    "twilio_account_sid": "AC" + "5e" * 16,
    "twilio_auth_token": "3f9c2a7b8d1e4f6a0b5c9d2e7f1a8b3c",
}


def verdicts(findings: list[Finding]) -> list[tuple[str, str]]:
    return [(finding.subject, finding.verdict) for finding in findings]


# -- settings ------------------------------------------------------------------------


def test_production_settings_pass_and_development_ones_say_what_production_refuses(
    settings: Settings,
) -> None:
    production = settings.with_overrides(**PRODUCTION)
    assert settings_finding(production).verdict == PASS
    laptop = Settings(public_base_url="http://127.0.0.1:5000")
    finding = settings_finding(laptop)
    assert finding.verdict == WARN
    assert "SMSBANK_SECRET_KEY" in finding.detail and "SMSBANK_PUBLIC_BASE_URL" in finding.detail


# -- database ------------------------------------------------------------------------


async def empty_database(url: str) -> None:
    """No tables at all, as a database no one ever migrated."""
    await Tortoise.init(config=tortoise_config(url), _enable_global_fallback=True)
    try:
        if url.startswith("postgres"):
            await connections.get("default").execute_script(
                "DROP SCHEMA public CASCADE; CREATE SCHEMA public;"
            )
        else:  # the file exists once something was asked of it
            await connections.get("default").execute_query("SELECT 1")
    finally:
        await Tortoise.close_connections()


async def test_the_database_passes_only_once_every_migration_is_applied(
    settings: Settings, database_url: str
) -> None:
    files = sorted(
        p.name for p in (migrations_location(database_url) / "models").glob("[0-9]*_*.py")
    )
    if not POSTGRES_URL:
        missing = await database_finding(settings)
        assert missing.verdict == FAIL and "smsbank migrate" in missing.detail
    await empty_database(database_url)
    never = await database_finding(settings)
    assert never.verdict == FAIL
    assert f"{len(files)} migration(s)" in never.detail and files[-1] in never.detail

    await apply_migrations(settings)
    assert (await database_finding(settings)).verdict == PASS

    await Tortoise.init(config=tortoise_config(database_url), _enable_global_fallback=True)
    try:  # as if the last migration had never been applied
        await connections.get("default").execute_query(
            "DELETE FROM aerich WHERE version = $1"
            if database_url.startswith("postgres")
            else "DELETE FROM aerich WHERE version = ?",
            [files[-1]],
        )
    finally:
        await Tortoise.close_connections()
    behind = await database_finding(settings)
    assert behind.verdict == FAIL
    assert "1 migration(s)" in behind.detail and files[-1] in behind.detail


async def test_an_unreachable_database_fails_naming_the_setting(settings: Settings) -> None:
    nowhere = settings.with_overrides(
        database_url=f"postgres://postgres:secret-pw@127.0.0.1:{free_port()}/bank"
    )
    finding = await database_finding(nowhere)
    assert finding.verdict == FAIL
    assert "cannot be reached" in finding.detail and "DATABASE_URL" in finding.detail
    assert "secret-pw" not in finding.detail


# -- face model ----------------------------------------------------------------------


async def test_the_face_model_is_built_from_the_offline_weights(
    settings: Settings, tmp_path: Path
) -> None:
    good = await face_finding(settings.with_overrides(deepface_home=str(tmp_path / "good")))
    assert good.verdict == PASS and "threshold 0.07" in good.detail


def test_a_damaged_weight_file_fails_the_face_line(tmp_path: Path) -> None:
    """An operator's own copy of a weight file, damaged: kept, and the model cannot be
    built from it. In a process of its own: DeepFace keeps the models it built in
    memory, and the test process built one already."""
    weights = tmp_path / "home" / ".deepface" / "weights"
    weights.mkdir(parents=True)
    damaged = weights / "dlib_face_recognition_resnet_model_v1.dat"
    damaged.write_bytes(os.urandom(4096))
    done = subprocess.run(
        [sys.executable, "-m", "smsbank", "check"],
        env={**clean_env(), "SMSBANK_DEEPFACE_HOME": str(tmp_path / "home")},
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 1
    [face] = [line for line in done.stdout.splitlines() if "face model" in line]
    assert face.startswith("FAIL") and damaged.name in face


# -- public URL ----------------------------------------------------------------------


@pytest.fixture(scope="module")
def certificates(tmp_path_factory: pytest.TempPathFactory) -> Certificates:
    return make_certificates(tmp_path_factory.mktemp("tls"))


def clean_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith(("SMSBANK_", "TWILIO_"))}


@pytest.fixture(scope="module")
def https_origin(
    certificates: Certificates, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """The bank in production, served over https on 127.0.0.1 by hypercorn in a process
    of its own (certificate from the test authority), with the PRODUCTION secrets."""
    workdir = tmp_path_factory.mktemp("https-bank")
    port = free_port()
    base = f"https://127.0.0.1:{port}"
    env = {
        **clean_env(),
        "SMSBANK_ENV": "production",
        "SMSBANK_SECRET_KEY": PRODUCTION["secret_key"],
        "SMSBANK_ADMIN_API_KEY": PRODUCTION["admin_api_key"],
        "TWILIO_ACCOUNT_SID": PRODUCTION["twilio_account_sid"],
        "TWILIO_AUTH_TOKEN": PRODUCTION["twilio_auth_token"],
        "TWILIO_PHONE_NUMBER": NUMBER,
        "SMSBANK_PUBLIC_BASE_URL": base,
        "DATABASE_URL": f"sqlite://{workdir / 'bank.sqlite3'}",
        "SMSBANK_FACE_WARMUP": "false",
        "SMSBANK_FACE_WORKERS": "1",
        "SMSBANK_LOG_LEVEL": "WARNING",
    }
    hypercorn = [sys.executable, "-m", "hypercorn", "--bind", "127.0.0.1:{port}"]
    tls = ["--certfile", str(certificates.cert), "--keyfile", str(certificates.key)]
    bank = BankProcess(
        env,
        workdir,
        command=[*hypercorn, *tls, "smsbank.app:serve_app()"],
        ready_path="/healthz",
        scheme="https",
        ca=certificates.ca,
        environ={},
    )
    bank.migrate()
    try:
        asyncio.run(bank.start(port))
        yield base
    finally:
        bank.stop()


@pytest.fixture
def https_bank(settings: Settings, https_origin: str) -> Settings:
    """Settings of the bank serving at `https_origin`."""
    return settings.with_overrides(public_base_url=https_origin, **PRODUCTION)


async def test_healthz_answers_a_challenge_with_this_banks_proof_only(
    client: Any, settings: Settings
) -> None:
    challenge = "a-fresh-challenge-0123456789"
    body = await (await client.get(f"/healthz?challenge={challenge}")).get_json()
    assert body == {"status": "ok", "proof": instance_proof(settings, challenge)}
    other = settings.with_overrides(secret_key="Hk2-wP8zQ_vN5rLx3JcT9yBm6FdS1aGe7UoI4Zq0")
    assert body["proof"] != instance_proof(other, challenge)
    for unusable in ("short", "x" * 129, "has spaces in it, 0123456789"):
        answer = await client.get("/healthz", query_string={"challenge": unusable})
        assert await answer.get_json() == {"status": "ok"}


@pytest.fixture
def trusting(monkeypatch: pytest.MonkeyPatch, certificates: Certificates) -> None:
    """This process trusts the test authority, as a server trusts the public ones."""
    monkeypatch.setenv("SSL_CERT_FILE", str(certificates.ca))


def test_the_public_url_passes_when_it_is_this_bank_over_trusted_https(
    https_bank: Settings, trusting: None
) -> None:
    finding = asyncio.run(public_url_finding(https_bank))
    assert finding == Finding(
        PASS, "public URL", f"{https_bank.base_url} is https and answers as this bank"
    )


def test_a_url_that_answers_as_another_bank_fails(https_bank: Settings, trusting: None) -> None:
    """What an old tunnel now pointing at another server looks like: 200, wrong proof."""
    elsewhere = https_bank.with_overrides(secret_key="Hk2-wP8zQ_vN5rLx3JcT9yBm6FdS1aGe7UoI4Zq0")
    finding = asyncio.run(public_url_finding(elsewhere))
    assert finding.verdict == FAIL and "not as this bank" in finding.detail


def test_an_untrusted_certificate_fails(https_bank: Settings) -> None:
    finding = asyncio.run(public_url_finding(https_bank))
    assert finding.verdict == FAIL and "certificate" in finding.detail.lower()


@pytest.mark.parametrize(
    ("public", "says"),
    [
        ("", "not set"),
        ("http://bank.example.test", "not https"),
        ("https://127.0.0.1:{port}", "cannot be reached"),
    ],
)
def test_a_public_url_not_https_or_not_answering_fails(
    settings: Settings, public: str, says: str
) -> None:
    configured = settings.with_overrides(public_base_url=public.format(port=free_port()))
    finding = asyncio.run(public_url_finding(configured))
    assert finding.verdict == FAIL and says in finding.detail


# -- Twilio --------------------------------------------------------------------------


@pytest.fixture
async def fake() -> AsyncIterator[FakeTwilio]:
    async with FakeTwilio(
        account_sid=PRODUCTION["twilio_account_sid"], auth_token=PRODUCTION["twilio_auth_token"]
    ) as server:
        yield server


@pytest.fixture
def twilio_settings(settings: Settings, fake: FakeTwilio) -> Settings:
    return settings.with_overrides(
        sms_backend="twilio",
        twilio_api_base_url=fake.base_url,
        twilio_account_sid=fake.account_sid,
        twilio_auth_token=fake.auth_token,
    )


def hooks(settings: Settings) -> dict[str, str]:
    return {
        "sms_url": settings.base_url + "/webhooks/twilio/sms",
        "voice_url": settings.base_url + "/webhooks/twilio/voice",
    }


async def test_working_credentials_and_webhooks_pointing_here_pass(
    twilio_settings: Settings, fake: FakeTwilio
) -> None:
    fake.add_number(NUMBER, **hooks(twilio_settings))
    findings = await twilio_findings(twilio_settings)
    assert verdicts(findings) == [
        ("Twilio account", PASS),
        ("Twilio voice webhook", PASS),
        ("Twilio SMS webhook", PASS),
    ]
    assert not fake.requests  # read only: nothing was sent


@pytest.mark.parametrize("status", ["suspended", "closed"])
async def test_wrong_credentials_or_an_account_not_active_fail(
    twilio_settings: Settings, fake: FakeTwilio, status: str
) -> None:
    fake.add_number(NUMBER, **hooks(twilio_settings))
    wrong = twilio_settings.with_overrides(twilio_auth_token="a-wrong-auth-token-000")
    [refused] = await twilio_findings(wrong)
    assert refused.verdict == FAIL and "credentials refused" in refused.detail
    assert "20003" in refused.detail and "a-wrong-auth-token" not in refused.detail
    fake.account_status = status
    [inactive] = await twilio_findings(twilio_settings)
    assert inactive.verdict == FAIL and status in inactive.detail


@pytest.mark.parametrize(
    ("configured", "failing"),
    [
        ({"voice_url": "https://old-tunnel.example.net/webhooks/twilio/voice"}, "voice"),
        ({"sms_method": "GET"}, "SMS"),
        ({"sms_url": ""}, "SMS"),
        ({"voice_application_sid": "AP" + "1" * 32}, "voice"),
    ],
)
async def test_a_number_webhook_pointing_elsewhere_fails_and_says_what_to_set(
    twilio_settings: Settings, fake: FakeTwilio, configured: dict[str, str], failing: str
) -> None:
    fake.add_number(NUMBER, **{**hooks(twilio_settings), **configured})
    findings = {f.subject: f for f in await twilio_findings(twilio_settings)}
    wrong = findings[f"Twilio {failing} webhook"]
    assert wrong.verdict == FAIL
    expected = hooks(twilio_settings)["voice_url" if failing == "voice" else "sms_url"]
    assert f"set {expected}, HTTP POST" in wrong.detail or expected in wrong.detail
    assert sum(f.verdict == FAIL for f in findings.values()) == 1


async def test_a_number_not_in_the_account_fails(
    twilio_settings: Settings, fake: FakeTwilio
) -> None:
    fake.add_number("+15550009999", **hooks(twilio_settings))
    findings = await twilio_findings(twilio_settings)
    assert verdicts(findings) == [("Twilio account", PASS), ("Twilio number", FAIL)]


async def test_a_messaging_service_is_checked_where_its_texts_arrive(
    twilio_settings: Settings, fake: FakeTwilio
) -> None:
    """The service's own inbound webhook; or, when it defers to its senders' webhooks,
    each number of its pool. The voice webhook is always the number's."""
    settings = twilio_settings.with_overrides(twilio_messaging_service_sid=SERVICE)
    urls = hooks(settings)
    fake.add_number(NUMBER, voice_url=urls["voice_url"])
    service = fake.add_service(SERVICE, inbound_request_url=urls["sms_url"], numbers=[NUMBER])
    assert [f.verdict for f in await twilio_findings(settings)] == [PASS, PASS, PASS]

    service.inbound_request_url = "https://old-tunnel.example.net/webhooks/twilio/sms"
    findings = await twilio_findings(settings)
    assert verdicts(findings)[2] == ("Twilio SMS webhook", FAIL)
    assert "Send a webhook" in findings[2].detail

    service.use_inbound_webhook_on_number = True
    service.numbers.append("+15550002222")
    fake.add_number("+15550002222", sms_url=urls["sms_url"])
    findings = await twilio_findings(settings)
    by_number = {f.detail.split(" ", 1)[0]: f.verdict for f in findings[2:]}
    assert by_number == {NUMBER: FAIL, "+15550002222": PASS}  # NUMBER has no SMS webhook

    fake.numbers[NUMBER].sms_url = urls["sms_url"]
    assert [f.verdict for f in await twilio_findings(settings)] == [PASS] * 4


async def test_the_console_backend_warns_in_development(settings: Settings) -> None:
    [laptop] = await twilio_findings(settings)
    assert laptop.verdict == WARN and "console" in laptop.detail


def test_production_with_the_console_backend_fails_on_its_settings_line(tmp_path: Path) -> None:
    # Such settings do not load at all: the command says so and fails.
    result = subprocess.run(
        [sys.executable, "-m", "smsbank", "check"],
        env={
            **clean_env(),
            "SMSBANK_ENV": "production",
            "SMSBANK_SECRET_KEY": PRODUCTION["secret_key"],
            "SMSBANK_PUBLIC_BASE_URL": "https://bank.example.test",
            "SMSBANK_SMS_BACKEND": "console",
        },
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 1
    assert result.stdout.startswith("FAIL") and "SMSBANK_SMS_BACKEND" in result.stdout


# -- the command ---------------------------------------------------------------------


def command_env(settings: Settings, fake: FakeTwilio, certificates: Certificates) -> dict[str, str]:
    return {
        **clean_env(),
        "SMSBANK_ENV": "production",
        "DATABASE_URL": settings.database_url,
        "SMSBANK_PUBLIC_BASE_URL": settings.base_url,
        "SMSBANK_SECRET_KEY": settings.secret_key,
        "SMSBANK_ADMIN_API_KEY": settings.admin_api_key,
        "SMSBANK_DEEPFACE_HOME": settings.deepface_home,
        "TWILIO_ACCOUNT_SID": fake.account_sid,
        "TWILIO_AUTH_TOKEN": fake.auth_token,
        "TWILIO_PHONE_NUMBER": NUMBER,
        "SMSBANK_TWILIO_API_BASE_URL": fake.base_url,
        "SSL_CERT_FILE": str(certificates.ca),
    }


async def smsbank_check(env: dict[str, str], cwd: Path) -> tuple[int, list[str]]:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "smsbank",
        "check",
        env=env,
        cwd=cwd,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    output, _ = await asyncio.wait_for(process.communicate(), timeout=300)
    return int(process.returncode or 0), output.decode().splitlines()


async def test_smsbank_check_exits_0_when_all_is_well_and_1_naming_what_is_not(
    https_bank: Settings,
    certificates: Certificates,
    fake: FakeTwilio,
    tmp_path: Path,
    database_url: str,
) -> None:
    """The real command in its own process: a migrated database, the face model, the
    bank over https (already serving, with the same secret), Twilio pointing here."""
    production_bank = https_bank
    await empty_database(database_url)
    await apply_migrations(production_bank)
    number = fake.add_number(NUMBER, **hooks(production_bank))
    env = command_env(production_bank, fake, certificates)

    status, lines = await smsbank_check(env, tmp_path)
    assert status == 0, "\n".join(lines)
    verdict_lines = [line for line in lines if line[:4] in (PASS, WARN, FAIL)]
    assert [line[:4] for line in verdict_lines] == [PASS] * 7, "\n".join(lines)
    assert lines[-1].startswith("ready")

    number.voice_url = "https://old-tunnel.example.net/webhooks/twilio/voice"
    status, lines = await smsbank_check(env, tmp_path)
    assert status == 1
    [failed] = [line for line in lines if line.startswith(FAIL)]
    assert "voice webhook" in failed and "old-tunnel.example.net" in failed
    assert "1 check(s) failed" in lines[-1]


def test_smsbank_check_with_unusable_settings_is_one_failing_line(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "smsbank", "check"],
        env={**clean_env(), "SMSBANK_ENV": "production"},
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 1
    [line] = done.stdout.strip().splitlines()
    assert line.startswith("FAIL  settings") and "SMSBANK_SECRET_KEY" in line
