"""One typed settings object, read once from the environment and `.env`, then passed down.

Conventional names stay as they are (`DATABASE_URL`, `TWILIO_*`); everything else is
`SMSBANK_<NAME>`. Outside development the bank refuses to start with a default or
missing secret: a forgotten `.env` must never put a shared, published key in front of
real money.
"""

from __future__ import annotations

import difflib
import math
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from decimal import Decimal
from itertools import pairwise
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from dotenv import dotenv_values

from smsbank.core.money import format_amount, parse_amount
from smsbank.core.phones import KNOWN_REGIONS, region_of

DEV_SECRET_KEY = "dev-only-secret-key-do-not-use-in-production"  # noqa: S105
DEV_ADMIN_API_KEY = "dev-admin-key"
MESSAGING_SERVICE_SID_RE = re.compile(r"^MG[0-9a-fA-F]{32}$", re.ASCII)
TWILIO_CREDENTIALS = ("TWILIO_ACCOUNT_SID", "TWILIO_AUTH_TOKEN", "TWILIO_PHONE_NUMBER")
ACCOUNT_SID_RE = re.compile(r"^AC[0-9a-fA-F]{32}$")


# Counts and caps: a negative one is a typo, never a policy.
CAP_SETTINGS = (
    "wrong_codes_per_day",
    "stranger_replies_per_hour",
    "outbound_calls_per_hour",
    "callbacks_per_customer_per_hour",
    "cooling_off_hours",
    "face_checks_per_customer_per_hour",
    "face_checks_per_key_per_hour",
)
LIVENESS_MODES = ("challenge", "off")
LIVENESS_STEPS = ("left", "right")


class SettingsError(ValueError):
    """A setting is missing, malformed or unsafe for the chosen environment."""


def _env_name(field_name: str) -> str:
    conventional = {
        "database_url": "DATABASE_URL",
        "twilio_account_sid": "TWILIO_ACCOUNT_SID",
        "twilio_auth_token": "TWILIO_AUTH_TOKEN",
        "twilio_phone_number": "TWILIO_PHONE_NUMBER",
        "twilio_messaging_service_sid": "TWILIO_MESSAGING_SERVICE_SID",
    }
    return conventional.get(field_name, f"SMSBANK_{field_name.upper()}")


@dataclass(frozen=True)
class Settings:
    """Every knob of the bank; `.env.example` lists each with its default."""

    env: str = "development"
    database_url: str = "sqlite://data/smsbank.sqlite3"
    # Empty: the origin actually served, http://<host>:<port> (development only).
    public_base_url: str = ""
    secret_key: str = DEV_SECRET_KEY
    admin_api_key: str = DEV_ADMIN_API_KEY
    currency: str = "USD"
    default_region: str = "US"

    # Twilio and outbound delivery
    twilio_account_sid: str = ""
    twilio_auth_token: str = ""
    twilio_phone_number: str = ""
    # A Messaging Service (MG...) sends the texts from its sender pool (A2P 10DLC in the
    # US); calls still come from TWILIO_PHONE_NUMBER, which stays required.
    twilio_messaging_service_sid: str = ""
    twilio_api_base_url: str = ""
    sms_backend: str = ""
    outbox_enabled: bool = True
    outbox_poll_seconds: float = 0.5
    outbox_max_attempts: int = 8
    outbox_backoff_seconds: float = 2.0
    outbox_batch_size: int = 20

    # Money limits
    withdrawal_limit: Decimal = Decimal("1000.00")
    daily_withdrawal_limit: Decimal = Decimal("2000.00")

    # One-time codes and conversations
    otp_ttl_seconds: int = 300
    otp_max_attempts: int = 5
    otp_send_limit: int = 5
    otp_send_window_seconds: int = 600
    conversation_timeout_seconds: int = 900
    inbound_rate_limit_per_minute: int = 20
    # Read-only texts (BAL, ME, HELP) written together in one transaction with the others
    # arriving at the same moment (`smsbank.sms.group_commit`); off, every text takes the
    # one-message path. Both answer alike.
    sms_group_commit: bool = True
    expiry_sweep_seconds: float = 30.0  # 0 = no sweep (readers still expire lazily)
    # Wrong codes a customer may enter in 24 hours before withdrawals and number changes
    # by SMS lock until staff lift it: 5 a request already, two requests' worth a day.
    wrong_codes_per_day: int = 10

    # Abuse and toll fraud (SMS pumping, premium calls)
    # ISO country codes the bank texts and calls (strangers and new numbers alike);
    # empty: the country of TWILIO_PHONE_NUMBER, else `default_region`.
    allowed_countries: str = ""
    stranger_replies_per_hour: int = 100  # "not registered" replies, all numbers together
    outbound_calls_per_hour: int = 100  # every call the bank places, all customers together
    callbacks_per_customer_per_hour: int = 3  # call-backs after an unverified inbound call
    # After a face or number change no withdrawal for this long: the customer has a day
    # to see the notice on their phone (or notice a SIM swap) and call the bank.
    cooling_off_hours: int = 24

    # Faces and capture links
    face_model: str = "Dlib"
    face_detector: str = "dlib"
    face_threshold: float | None = None
    deepface_home: str = "data/deepface"
    face_workers: int = 2
    face_max_upload_bytes: int = 10 * 1024 * 1024
    face_max_pixels: int = 40_000_000
    face_max_side: int = 1024
    capture_ttl_seconds: int = 600
    capture_max_attempts: int = 3
    face_lockout_failures: int = 5
    face_warmup: bool = True
    # Plain staff face checks (`/verify_face` by customer id), per hour.
    face_checks_per_customer_per_hour: int = 5
    face_checks_per_key_per_hour: int = 60
    # Liveness (SPEC §9a): `challenge` asks every capture link for a filmed head turn;
    # `off` takes the single selfie of §9.
    liveness: str = "challenge"
    liveness_min_yaw: float = 15.0
    # A fixed order of the steps ("left,right") for tests; production refuses it, since
    # a known order lets a replayed video answer every challenge.
    liveness_steps: str = ""
    # Caps on a challenge's frames, checked while reading the upload: a 640 px JPEG is
    # well under 200 KB, so these leave room for phones that compress little.
    liveness_max_frame_bytes: int = 512 * 1024
    liveness_max_upload_bytes: int = 8 * 1024 * 1024

    # Staff API: wrong keys allowed per client address in a sliding window, then 429;
    # behind N reverse proxies, the client is the Nth address from the right of
    # X-Forwarded-For (0: the connection's own address).
    auth_failure_limit: int = 20
    auth_failure_window_seconds: int = 600
    trusted_proxy_hops: int = 0

    # Serving and logs
    host: str = "127.0.0.1"
    port: int = 5000
    log_level: str = "INFO"
    log_format: str = "json"
    # A scrape-only bearer token for GET /metrics (staff keys read it too); empty: none.
    metrics_token: str = ""

    extra: Mapping[str, str] = field(default_factory=dict, repr=False)

    @classmethod
    def from_env(
        cls,
        environ: Mapping[str, str] | None = None,
        dotenv_path: str | os.PathLike[str] | None = ".env",
        **overrides: Any,
    ) -> Settings:
        """Read settings from `.env` (if present) overlaid by the real environment."""
        source: dict[str, str] = {}
        if dotenv_path is not None and Path(dotenv_path).is_file():
            source.update({k: v for k, v in dotenv_values(dotenv_path).items() if v is not None})
        source.update(os.environ if environ is None else environ)

        values: dict[str, Any] = {}
        for f in fields(cls):
            if f.name == "extra":
                continue
            raw = source.get(_env_name(f.name))
            if raw is None or raw.strip() == "":
                continue
            values[f.name] = _convert(f.name, f.type, raw.strip())
        values.update(overrides)
        settings = cls(**values)
        try:
            settings.validate()
        except SettingsError as exc:
            hints = _misspelt_names(source)
            if hints:
                raise SettingsError(f"{exc}; {hints}") from None
            raise
        return settings

    def with_overrides(self, **changes: Any) -> Settings:
        updated = replace(self, **changes)
        updated.validate()
        return updated

    # -- derived values -------------------------------------------------

    @property
    def is_production(self) -> bool:
        return self.env == "production"

    @property
    def effective_sms_backend(self) -> str:
        if self.sms_backend:
            return self.sms_backend
        return "twilio" if self.twilio_account_sid and self.twilio_auth_token else "console"

    @property
    def dev_phone_enabled(self) -> bool:
        """The dev phone (`/dev/*`) exists only on a developer's console-mode bank."""
        return self.env == "development" and self.effective_sms_backend == "console"

    @property
    def base_url(self) -> str:
        """The origin phones and Twilio reach: links and webhook signatures use it.

        Unset, it is the address this process serves, so a bank moved to another port
        texts links that work there too.
        """
        if self.public_base_url:
            return self.public_base_url.rstrip("/")
        return f"http://{served_host(self.host)}:{self.port}"

    @property
    def allowed_regions(self) -> frozenset[str]:
        """The countries (ISO codes) the bank may text and call."""
        if self.allowed_countries.strip():
            return frozenset(
                code.strip().upper() for code in self.allowed_countries.split(",") if code.strip()
            )
        bank_region = region_of(self.twilio_phone_number) if self.twilio_phone_number else None
        return frozenset({bank_region or self.default_region.upper()})

    def validate(self) -> None:
        if self.env not in ("development", "production"):
            raise SettingsError("SMSBANK_ENV must be 'development' or 'production'")
        if self.sms_backend not in ("", "twilio", "console"):
            raise SettingsError("SMSBANK_SMS_BACKEND must be 'twilio' or 'console'")
        if self.effective_sms_backend == "twilio" and not (
            self.twilio_account_sid and self.twilio_auth_token and self.twilio_phone_number
        ):
            raise SettingsError(
                "the twilio backend needs TWILIO_ACCOUNT_SID, TWILIO_AUTH_TOKEN and "
                "TWILIO_PHONE_NUMBER (a voice-capable number: calls are placed from it, and "
                "texts too unless TWILIO_MESSAGING_SERVICE_SID is set)"
            )
        if self.twilio_messaging_service_sid and not MESSAGING_SERVICE_SID_RE.match(
            self.twilio_messaging_service_sid
        ):
            raise SettingsError(
                "TWILIO_MESSAGING_SERVICE_SID must be a Messaging Service sid: MG and 32 "
                "hex digits (Twilio console: Messaging > Services)"
            )
        if self.public_base_url and not is_origin(self.public_base_url):
            raise SettingsError(
                "SMSBANK_PUBLIC_BASE_URL must be an origin such as https://bank.example.com "
                "(http or https, a host, an optional port; no path, query, fragment or user)"
            )
        if not 0 < self.port < 65536:
            raise SettingsError("SMSBANK_PORT must be a TCP port, 1-65535")
        if self.withdrawal_limit <= 0 or self.daily_withdrawal_limit <= 0:
            raise SettingsError("withdrawal limits must be positive")
        if not 0 <= self.expiry_sweep_seconds < float("inf"):
            raise SettingsError("SMSBANK_EXPIRY_SWEEP_SECONDS must be 0 (off) or more")
        unknown = sorted(self.allowed_regions - KNOWN_REGIONS)
        if unknown:
            raise SettingsError(
                f"SMSBANK_ALLOWED_COUNTRIES: {', '.join(unknown)} is not an ISO country code "
                "(write them as US,CA)"
            )
        for name in CAP_SETTINGS:
            if getattr(self, name) < 0:
                raise SettingsError(f"{_env_name(name)} must be 0 or more")
        self._validate_liveness()
        if not self.is_production:
            return
        problems = self._production_sms_problems()
        if self.liveness_steps:
            problems.append("SMSBANK_LIVENESS_STEPS empty (a fixed step order is for tests)")
        if self.secret_key == DEV_SECRET_KEY or guessable(self.secret_key, min_length=32):
            problems.append(f"SMSBANK_SECRET_KEY (32+ random characters: {GENERATE_SECRET})")
        if self.admin_api_key == DEV_ADMIN_API_KEY or (
            self.admin_api_key and guessable(self.admin_api_key, min_length=24)
        ):
            problems.append(
                f"SMSBANK_ADMIN_API_KEY (leave empty or 24+ random characters: {GENERATE_SECRET})"
            )
        if self.metrics_token and guessable(self.metrics_token, min_length=24):
            problems.append(
                f"SMSBANK_METRICS_TOKEN (leave empty or 24+ random characters: {GENERATE_SECRET})"
            )
        if not self.public_base_url.startswith("https://"):
            problems.append(
                "SMSBANK_PUBLIC_BASE_URL (the https origin Twilio and phones reach; "
                "required in production)"
            )
        if problems:
            raise SettingsError(
                "refusing to start in production until these are set: " + ", ".join(problems)
            )

    @property
    def fixed_liveness_steps(self) -> tuple[str, ...] | None:
        """The test-only step order, or None: every challenge draws its own."""
        if not self.liveness_steps.strip():
            return None
        return tuple(step.strip().lower() for step in self.liveness_steps.split(","))

    def _validate_liveness(self) -> None:
        if self.liveness not in LIVENESS_MODES:
            raise SettingsError("SMSBANK_LIVENESS must be 'challenge' or 'off'")
        if not 5.0 <= self.liveness_min_yaw <= 60.0:
            raise SettingsError("SMSBANK_LIVENESS_MIN_YAW must be 5-60 degrees")
        steps = self.fixed_liveness_steps
        if steps is not None and sorted(steps) != sorted(LIVENESS_STEPS):
            raise SettingsError(
                "SMSBANK_LIVENESS_STEPS must name left and right once each (left,right)"
            )
        if not 0 < self.liveness_max_frame_bytes <= self.liveness_max_upload_bytes:
            raise SettingsError(
                "SMSBANK_LIVENESS_MAX_FRAME_BYTES must be positive and at most "
                "SMSBANK_LIVENESS_MAX_UPLOAD_BYTES"
            )

    def _production_sms_problems(self) -> list[str]:
        # The console backend sends nothing and serves every text on /dev/*: in front of
        # real customers it would publish their codes and links and let anyone speak for
        # any phone. Production never falls back to it.
        if self.sms_backend == "console":
            return ["SMSBANK_SMS_BACKEND (console is for development only: use twilio)"]
        values = (self.twilio_account_sid, self.twilio_auth_token, self.twilio_phone_number)
        pairs = zip(TWILIO_CREDENTIALS, values, strict=True)
        missing = [name for name, value in pairs if not value]
        if missing:
            return [f"{name} (production needs a real SMS backend)" for name in missing]
        problems = []
        if not ACCOUNT_SID_RE.match(self.twilio_account_sid):
            problems.append("TWILIO_ACCOUNT_SID (AC followed by 32 hex digits)")
        if len(self.twilio_auth_token) < 16:
            problems.append("TWILIO_AUTH_TOKEN")
        return problems


GENERATE_SECRET = "python3 -c 'import secrets; print(secrets.token_urlsafe(48))'"  # noqa: S105
MIN_SECRET_BITS = 128
MIN_SECRET_DISTINCT = 10


def guessable(secret: str, *, min_length: int) -> bool:
    """True for a secret too short or too regular to stand for random.

    A cheap guard against the obvious (`"a" * 32`, `abcdef...`, `0123...`, a short word
    repeated), not a proof of randomness: characters count only when they neither repeat
    nor step by one from the one before, each worth log2 of the alphabet the secret
    draws from; a generated key (`GENERATE_SECRET`, what `make run` writes) passes with
    a wide margin, as does a 64-digit hex key.
    """
    if len(secret) < min_length or len(set(secret)) < MIN_SECRET_DISTINCT:
        return True
    alphabet = 0
    for members, size in (
        (str.islower, 26),
        (str.isupper, 26),
        (str.isdigit, 10),
        (lambda ch: ch.isascii() and not ch.isalnum(), 33),
        (lambda ch: not ch.isascii(), 100),
    ):
        if any(members(ch) for ch in secret):
            alphabet += size
    counted = 1 + sum(1 for before, ch in pairwise(secret) if abs(ord(ch) - ord(before)) > 1)
    return counted * math.log2(alphabet) < MIN_SECRET_BITS


def is_origin(url: str) -> bool:
    """`scheme://host[:port]` (a trailing `/` allowed) and nothing else."""
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 (raises on a port that is not a number)
    except ValueError:
        return False
    return (
        parts.scheme in ("http", "https")
        and bool(parts.hostname)
        and parts.username is None
        and parts.password is None
        and parts.path in ("", "/")
        and not parts.query
        and not parts.fragment
        and "?" not in url
        and "#" not in url
    )


def _misspelt_names(source: Mapping[str, str]) -> str:
    """'X is not a setting (did you mean Y?)' for names that look like a known one."""
    known = [_env_name(f.name) for f in fields(Settings) if f.name != "extra"]
    hints = []
    for name in sorted(source):
        if name in known or not name.startswith(("SMSBANK_", "TWILIO_", "DATABASE")):
            continue
        close = difflib.get_close_matches(name, known, n=1, cutoff=0.85)
        if close:
            hints.append(f"{name} is not a setting (did you mean {close[0]}?)")
    return "; ".join(hints)


def served_host(host: str) -> str:
    """How a browser on this machine reaches a server bound to `host`."""
    if host in ("", "0.0.0.0", "::"):  # noqa: S104 (naming the wildcard, not binding it)
        return "127.0.0.1"
    return f"[{host}]" if ":" in host else host


def _convert(name: str, annotation: Any, raw: str) -> Any:
    kind = str(annotation)
    try:
        if kind == "Decimal":
            return parse_amount(raw)
        if kind == "bool":
            lowered = raw.lower()
            if lowered not in ("1", "0", "true", "false", "yes", "no", "on", "off"):
                raise ValueError(raw)
            return lowered in ("1", "true", "yes", "on")
        if kind == "int":
            return int(raw)
        if kind in ("float", "float | None"):
            return float(raw)
        return raw
    except ValueError as exc:
        raise SettingsError(f"{_env_name(name)}={raw!r} is not a valid {kind}") from exc


def env_example_lines() -> list[str]:
    """Every setting with its default, as `.env.example` shows them."""
    defaults = Settings()
    lines = []
    for f in fields(Settings):
        if f.name == "extra":
            continue
        value = getattr(defaults, f.name)
        if isinstance(value, Decimal):
            value = format_amount(value)
        elif isinstance(value, bool):
            value = "true" if value else "false"
        elif value is None:
            value = ""
        lines.append(f"{_env_name(f.name)}={value}")
    return lines
