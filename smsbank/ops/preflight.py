"""`smsbank check`: before go-live, is this bank ready for customers?

One line per check, each with a verdict and, when it is not PASS, what to do:

- settings: safe for the environment (the rules of `Settings.validate`; in development,
  what production would refuse);
- database: reachable, and every migration applied;
- face model: the weights load and the model is built once, offline;
- public URL: https, reachable from this process, and answering as this bank (a
  fresh challenge to `/healthz`, answered with a proof only a server holding this
  bank's secret key can give: an old tunnel to another server fails);
- Twilio: the credentials work (an authenticated read of the account; nothing is
  ever sent), and the webhooks of the number (voice; SMS too without a Messaging
  Service) and of the Messaging Service (its inbound webhook, or each sender's when
  it defers to them) point at this public URL with HTTP POST.

FAIL means customers would be let down; WARN means fine for now, worth a look. The
command exits 1 when anything failed.
"""

from __future__ import annotations

import asyncio
import hmac
import secrets
import ssl
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

import aiohttp
import asyncpg
from tortoise.exceptions import BaseORMException
from twilio.base.exceptions import TwilioRestException
from twilio.rest import Client

from smsbank.api.health import instance_proof
from smsbank.core.db import database_label, is_sqlite, pending_migrations, sqlite_path
from smsbank.core.settings import Settings, SettingsError
from smsbank.faces.service import FaceEngineError, running_face_service
from smsbank.faces.weights import MissingWeights, weights_dir
from smsbank.outbox.backends import twilio_client

PASS, WARN, FAIL = "PASS", "WARN", "FAIL"
PUBLIC_URL_TIMEOUT_SECONDS = 10.0
SETUP_GUIDE = "README: Connecting a Twilio number"


@dataclass(frozen=True)
class Finding:
    """One line of the report."""

    verdict: str  # PASS, WARN or FAIL
    subject: str
    detail: str

    def line(self) -> str:
        return f"{self.verdict:<4}  {self.subject:<20}  {self.detail}"


Report = Callable[[Finding], None]


async def run_checks(settings: Settings, report: Report | None = None) -> list[Finding]:
    """Every check, in order; `report` sees each finding as soon as it is known."""
    findings: list[Finding] = []

    def add(*found: Finding) -> None:
        for finding in found:
            findings.append(finding)
            if report is not None:
                report(finding)

    add(settings_finding(settings))
    add(await database_finding(settings))
    add(await face_finding(settings))
    add(await public_url_finding(settings))
    add(*await twilio_findings(settings))
    return findings


# -- settings ------------------------------------------------------------------------


def settings_finding(settings: Settings) -> Finding:
    """Loaded settings passed `validate` for their environment; in development, say
    what production's rules would refuse."""
    if settings.is_production:
        return Finding(PASS, "settings", "safe for production (SMSBANK_ENV=production)")
    try:
        replace(settings, env="production").validate()
    except SettingsError as exc:
        return Finding(
            WARN,
            "settings",
            f"SMSBANK_ENV=development, for a laptop, not for customers; production would "
            f"refuse these settings: {exc}",
        )
    return Finding(
        WARN,
        "settings",
        "SMSBANK_ENV=development: set SMSBANK_ENV=production to go live "
        "(these settings would pass its rules)",
    )


# -- database ------------------------------------------------------------------------


async def database_finding(settings: Settings) -> Finding:
    label = database_label(settings.database_url)
    url = settings.database_url
    # Connecting would create an empty SQLite file: say what is missing instead.
    if is_sqlite(url) and not await asyncio.to_thread(Path(sqlite_path(url)).is_file):
        return Finding(FAIL, "database", f"no database at {label}: run `smsbank migrate`")
    try:
        pending = await pending_migrations(settings)
    except (BaseORMException, OSError, asyncpg.PostgresError) as exc:
        return Finding(
            FAIL,
            "database",
            f"{label} cannot be reached ({type(exc).__name__}: {exc}); check DATABASE_URL "
            "and that the database server is up",
        )
    if pending:
        return Finding(
            FAIL,
            "database",
            f"{label} lacks {len(pending)} migration(s) ({', '.join(pending)}): "
            "run `smsbank migrate`",
        )
    return Finding(PASS, "database", f"{label} answers and has every migration")


# -- faces ---------------------------------------------------------------------------


async def face_finding(settings: Settings) -> Finding:
    """Provision the weights offline and build the model and detector once, here."""
    pair = f"{settings.face_model}/{settings.face_detector}"
    try:
        async with running_face_service(settings, workers=0, warmup=True) as faces:
            threshold = faces.threshold
    except (FaceEngineError, MissingWeights, OSError, RuntimeError) as exc:
        return Finding(FAIL, "face model", f"{pair} does not load: {exc}")
    folder = weights_dir(settings.deepface_home)
    return Finding(PASS, "face model", f"{pair} built from {folder} (threshold {threshold})")


# -- public URL -----------------------------------------------------------------------


async def public_url_finding(settings: Settings) -> Finding:
    """GET <public URL>/healthz with a fresh challenge; only this bank answers it right."""
    if not settings.public_base_url:
        return Finding(
            FAIL,
            "public URL",
            "SMSBANK_PUBLIC_BASE_URL is not set: set the https origin Twilio and phones "
            f"reach ({SETUP_GUIDE})",
        )
    base = settings.base_url
    if not base.startswith("https://"):
        return Finding(
            FAIL,
            "public URL",
            f"{base} is not https: Twilio and phones need an https origin ({SETUP_GUIDE})",
        )
    challenge = secrets.token_urlsafe(24)
    timeout = aiohttp.ClientTimeout(total=PUBLIC_URL_TIMEOUT_SECONDS)
    try:
        # A context made now, so the system's trust store (and SSL_CERT_FILE) is read now.
        tls = ssl.create_default_context()
        async with (
            aiohttp.ClientSession(timeout=timeout) as session,
            session.get(
                f"{base}/healthz", params={"challenge": challenge}, ssl=tls, allow_redirects=False
            ) as response,
        ):
            status = response.status
            body = await response.json(content_type=None) if status == 200 else None
    except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
        return Finding(
            FAIL,
            "public URL",
            f"{base}/healthz cannot be reached from here ({type(exc).__name__}: {exc}): is "
            "the bank serving, and the tunnel or proxy in front of it up?",
        )
    if status != 200:
        return Finding(
            FAIL,
            "public URL",
            f"{base}/healthz answered HTTP {status}, not 200: it does not reach the bank",
        )
    proof = str(body.get("proof", "")) if isinstance(body, dict) else ""
    if not hmac.compare_digest(proof, instance_proof(settings, challenge)):
        return Finding(
            FAIL,
            "public URL",
            f"{base} answers, but not as this bank: a stale tunnel to another server, or a "
            "bank with another SMSBANK_SECRET_KEY",
        )
    return Finding(PASS, "public URL", f"{base} is https and answers as this bank")


# -- Twilio --------------------------------------------------------------------------


def _masked(sid: str) -> str:
    return f"{sid[:2]}…{sid[-4:]}" if len(sid) > 8 else sid


def _twilio_error(exc: Exception) -> str:
    if isinstance(exc, TwilioRestException):
        return f"Twilio answered HTTP {exc.status}, error {exc.code}: {exc.msg}"
    return f"{type(exc).__name__}: {exc}"


TWILIO_ERRORS = (TwilioRestException, aiohttp.ClientError, TimeoutError, OSError)


async def twilio_findings(settings: Settings) -> list[Finding]:
    if settings.effective_sms_backend != "twilio":
        return [
            Finding(
                FAIL if settings.is_production else WARN,
                "Twilio",
                "the console backend sends nothing: set TWILIO_ACCOUNT_SID, "
                f"TWILIO_AUTH_TOKEN and TWILIO_PHONE_NUMBER ({SETUP_GUIDE})",
            )
        ]
    client, http = twilio_client(settings)
    try:
        account = await account_finding(client, settings)
        if account.verdict == FAIL:
            return [account]
        try:
            return [account, *await webhook_findings(client, settings)]
        except TWILIO_ERRORS as exc:
            return [
                account,
                Finding(FAIL, "Twilio webhooks", f"not readable: {_twilio_error(exc)}"),
            ]
    finally:
        await http.close()


async def account_finding(client: Client, settings: Settings) -> Finding:
    """An authenticated read of the account: the credentials work (nothing is sent)."""
    sid = settings.twilio_account_sid
    try:
        account = await client.api.v2010.accounts(sid).fetch_async()
    except TWILIO_ERRORS as exc:
        if isinstance(exc, TwilioRestException) and exc.status == 401:
            fix = "copy TWILIO_ACCOUNT_SID and TWILIO_AUTH_TOKEN again from the console"
            return Finding(
                FAIL, "Twilio account", f"credentials refused ({_twilio_error(exc)}): {fix}"
            )
        return Finding(FAIL, "Twilio account", f"not reachable: {_twilio_error(exc)}")
    if account.status != "active":
        return Finding(
            FAIL,
            "Twilio account",
            f"account {_masked(sid)} is {account.status}: nothing will be delivered",
        )
    return Finding(PASS, "Twilio account", f"credentials work; account {_masked(sid)} is active")


def webhook_finding(
    subject: str,
    where: str,
    url: str | None,
    method: str | None,
    expected: str,
    app_sid: str | None,
) -> Finding:
    """Whether one webhook setting is `expected` with HTTP POST."""
    if app_sid:
        return Finding(
            FAIL,
            subject,
            f"{where} goes to the TwiML app {app_sid}, not the bank: choose Webhook "
            f"{expected}, HTTP POST ({SETUP_GUIDE})",
        )
    if (url or "").rstrip("/") != expected or (method or "").upper() != "POST":
        return Finding(
            FAIL,
            subject,
            f"{where} is {url or '(empty)'} ({method or '-'}): set {expected}, HTTP POST "
            f"({SETUP_GUIDE})",
        )
    return Finding(PASS, subject, f"{where}: {expected}, HTTP POST")


async def webhook_findings(client: Client, settings: Settings) -> list[Finding]:
    """The number's voice webhook, and where inbound texts go: the number's webhook, or
    the Messaging Service's, or (deferring to its senders) each pool number's."""
    sms_url = settings.base_url + "/webhooks/twilio/sms"
    voice_url = settings.base_url + "/webhooks/twilio/voice"
    phone = settings.twilio_phone_number
    listed = await client.incoming_phone_numbers.list_async(phone_number=phone, limit=20)
    number = next((n for n in listed if n.phone_number == phone), None)
    if number is None:
        return [
            Finding(
                FAIL,
                "Twilio number",
                f"TWILIO_PHONE_NUMBER {phone} is not a number of this account",
            )
        ]
    findings = [
        webhook_finding(
            "Twilio voice webhook",
            f"{phone} 'A call comes in'",
            number.voice_url,
            number.voice_method,
            voice_url,
            number.voice_application_sid,
        )
    ]
    service_sid = settings.twilio_messaging_service_sid
    if not service_sid:
        findings.append(
            webhook_finding(
                "Twilio SMS webhook",
                f"{phone} 'A message comes in'",
                number.sms_url,
                number.sms_method,
                sms_url,
                number.sms_application_sid,
            )
        )
        return findings
    service = client.messaging.v1.services(service_sid)
    config = await service.fetch_async()
    where = f"Messaging Service {_masked(service_sid)}"
    if not config.use_inbound_webhook_on_number:
        findings.append(
            webhook_finding(
                "Twilio SMS webhook",
                f"{where} 'Send a webhook'",
                config.inbound_request_url,
                config.inbound_method,
                sms_url,
                None,
            )
        )
        return findings
    senders = await service.phone_numbers.list_async(limit=1000)
    if not senders:
        findings.append(
            Finding(FAIL, "Twilio SMS webhook", f"{where} has no numbers to text the bank on")
        )
    for sender in senders:
        pool_number = await client.incoming_phone_numbers(str(sender.sid)).fetch_async()
        findings.append(
            webhook_finding(
                "Twilio SMS webhook",
                f"{pool_number.phone_number} 'A message comes in' ({where} defers to it)",
                pool_number.sms_url,
                pool_number.sms_method,
                sms_url,
                pool_number.sms_application_sid,
            )
        )
    return findings
