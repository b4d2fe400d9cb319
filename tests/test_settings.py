import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest

from smsbank.core.settings import (
    DEV_SECRET_KEY,
    Settings,
    SettingsError,
    env_example_lines,
    guessable,
)
from tests.fake_twilio import free_port

PROJECT = Path(__file__).resolve().parent.parent
TWILIO = {
    "TWILIO_ACCOUNT_SID": "AC" + "0123456789abcdef" * 2,
    "TWILIO_AUTH_TOKEN": "fedcba9876543210" * 2,
    "TWILIO_PHONE_NUMBER": "+15550001111",
}
# As `make run` writes them (secrets.token_urlsafe).
STRONG_SECRET = "u0kEvnBvZp5Ki2-8GwfxRbJzQ1s6yTcLhD_3qNm9aWo4YeXt7UjC"
STRONG_ADMIN_KEY = "sbk_Qm3xZr8KvT2pLw9NcY5hBd7JfG4sE1a"
PRODUCTION = {
    "SMSBANK_ENV": "production",
    "SMSBANK_SECRET_KEY": STRONG_SECRET,
    "SMSBANK_ADMIN_API_KEY": STRONG_ADMIN_KEY,
    "SMSBANK_PUBLIC_BASE_URL": "https://bank.example.com",
    **TWILIO,
}


def test_defaults_run_in_development_with_the_console_backend() -> None:
    settings = Settings.from_env(environ={}, dotenv_path=None)
    assert settings.env == "development"
    assert settings.effective_sms_backend == "console"
    assert settings.database_url.startswith("sqlite://")


def test_production_refuses_default_secrets() -> None:
    with pytest.raises(SettingsError, match="SMSBANK_SECRET_KEY"):
        Settings.from_env(
            environ={
                "SMSBANK_ENV": "production",
                "SMSBANK_PUBLIC_BASE_URL": "https://bank.example.com",
                "SMSBANK_ADMIN_API_KEY": "",
                **TWILIO,
            },
            dotenv_path=None,
        )


def test_production_refuses_the_published_admin_key_and_plain_http() -> None:
    with pytest.raises(SettingsError) as excinfo:
        Settings.from_env(
            environ={
                "SMSBANK_ENV": "production",
                "SMSBANK_SECRET_KEY": STRONG_SECRET,
                "SMSBANK_PUBLIC_BASE_URL": "http://bank.example.com",
                **TWILIO,
            },
            dotenv_path=None,
        )
    assert "SMSBANK_ADMIN_API_KEY" in str(excinfo.value)
    assert "https" in str(excinfo.value)


def test_production_starts_with_real_secrets() -> None:
    settings = Settings.from_env(environ=PRODUCTION, dotenv_path=None)
    assert settings.is_production
    assert settings.secret_key != DEV_SECRET_KEY
    assert settings.effective_sms_backend == "twilio"
    assert not settings.dev_phone_enabled


@pytest.mark.parametrize(
    "weak",
    [
        "a" * 32,
        "s" * 40,
        "abcdefghijklmnopqrstuvwxyz012345",
        "0123456789abcdef0123456789abcdef",
        "passwordpasswordpasswordpassword",
        "Kq7ZKq7ZKq7ZKq7ZKq7ZKq7ZKq7ZKq7Z",
        "qwertyuiopasdfghjklzxcvbnm",  # 26: short
        DEV_SECRET_KEY,
    ],
)
def test_production_refuses_a_guessable_secret_key(weak: str) -> None:
    message = production_refusal({**PRODUCTION, "SMSBANK_SECRET_KEY": weak})
    assert "SMSBANK_SECRET_KEY" in message and "token_urlsafe" in message


@pytest.mark.parametrize("weak", ["k" * 30, "admin-admin-admin-admin-admin", "dev-admin-key"])
def test_production_refuses_a_guessable_admin_key(weak: str) -> None:
    message = production_refusal({**PRODUCTION, "SMSBANK_ADMIN_API_KEY": weak})
    assert "SMSBANK_ADMIN_API_KEY" in message


def test_generated_secrets_pass() -> None:
    # What `make run` writes, what the docs tell an operator to run, and a hex key.
    for _ in range(200):
        for secret in (
            secrets.token_urlsafe(48),
            "sbk_" + secrets.token_urlsafe(32),
            secrets.token_hex(32),
        ):
            assert not guessable(secret, min_length=32), secret
    assert not guessable("correct horse battery staple xyz", min_length=32)


@pytest.mark.parametrize(
    "url",
    [
        "https://bank.example.com/bank",
        "https://bank.example.com/?a=1",
        "https://bank.example.com?a=1",
        "https://bank.example.com#top",
        "https://user:pw@bank.example.com",
        "https://user@bank.example.com",
        "https://bank.example.com:99999",
        "https://",
        "ftp://bank.example.com",
        "bank.example.com",
    ],
)
def test_the_public_url_must_be_an_origin(url: str) -> None:
    with pytest.raises(SettingsError, match="SMSBANK_PUBLIC_BASE_URL"):
        Settings.from_env(environ={"SMSBANK_PUBLIC_BASE_URL": url}, dotenv_path=None)
    with pytest.raises(SettingsError, match="SMSBANK_PUBLIC_BASE_URL"):
        Settings.from_env(environ={**PRODUCTION, "SMSBANK_PUBLIC_BASE_URL": url}, dotenv_path=None)


@pytest.mark.parametrize(
    "url", ["https://bank.example.com", "https://bank.example.com/", "http://127.0.0.1:5000"]
)
def test_an_origin_is_accepted(url: str) -> None:
    settings = Settings.from_env(environ={"SMSBANK_PUBLIC_BASE_URL": url}, dotenv_path=None)
    assert settings.base_url == url.rstrip("/")


def production_refusal(environ: dict[str, str]) -> str:
    with pytest.raises(SettingsError) as excinfo:
        Settings.from_env(environ=environ, dotenv_path=None)
    return str(excinfo.value)


def test_production_refuses_to_start_without_twilio_credentials() -> None:
    # Falling back to the console backend would publish every code on /dev/messages.
    environ = {k: v for k, v in PRODUCTION.items() if not k.startswith("TWILIO_")}
    message = production_refusal(environ)
    for name in TWILIO:
        assert name in message


def test_production_names_a_misspelt_twilio_setting() -> None:
    environ = {k: v for k, v in PRODUCTION.items() if k != "TWILIO_ACCOUNT_SID"}
    environ["TWILIO_ACOUNT_SID"] = TWILIO["TWILIO_ACCOUNT_SID"]
    message = production_refusal(environ)
    assert "TWILIO_ACCOUNT_SID" in message
    assert "TWILIO_ACOUNT_SID is not a setting (did you mean TWILIO_ACCOUNT_SID?)" in message


def test_production_refuses_a_mistyped_account_sid() -> None:
    message = production_refusal({**PRODUCTION, "TWILIO_ACCOUNT_SID": "AX" + "0" * 32})
    assert "TWILIO_ACCOUNT_SID" in message


def test_production_refuses_the_console_backend_even_with_credentials() -> None:
    message = production_refusal({**PRODUCTION, "SMSBANK_SMS_BACKEND": "console"})
    assert "SMSBANK_SMS_BACKEND" in message and "development only" in message


def test_the_dev_phone_is_only_for_development_with_the_console_backend() -> None:
    assert Settings.from_env(environ={}, dotenv_path=None).dev_phone_enabled
    with_twilio = Settings.from_env(environ=TWILIO, dotenv_path=None)
    assert with_twilio.effective_sms_backend == "twilio" and not with_twilio.dev_phone_enabled


def test_dotenv_is_read_and_the_environment_wins(tmp_path: Path) -> None:
    env_file = tmp_path / ".env"
    env_file.write_text("SMSBANK_CURRENCY=EUR\nSMSBANK_WITHDRAWAL_LIMIT=250\n")
    settings = Settings.from_env(environ={"SMSBANK_CURRENCY": "GBP"}, dotenv_path=env_file)
    assert settings.currency == "GBP"
    assert str(settings.withdrawal_limit) == "250.00"


def test_twilio_credentials_select_the_twilio_backend() -> None:
    settings = Settings.from_env(
        environ={
            "TWILIO_ACCOUNT_SID": "AC123",
            "TWILIO_AUTH_TOKEN": "token",
            "TWILIO_PHONE_NUMBER": "+15550001111",
        },
        dotenv_path=None,
    )
    assert settings.effective_sms_backend == "twilio"


@pytest.mark.parametrize(
    ("name", "value"),
    [("SMSBANK_PORT", "http"), ("SMSBANK_WITHDRAWAL_LIMIT", "-5"), ("SMSBANK_ENV", "prod")],
)
def test_malformed_settings_are_refused_with_their_name(name: str, value: str) -> None:
    with pytest.raises(SettingsError):
        Settings.from_env(environ={name: value}, dotenv_path=None)


def test_env_example_lists_every_setting_with_its_default() -> None:
    example = (PROJECT / ".env.example").read_text()
    documented = {
        line.split("=", 1)[0]: line.split("=", 1)[1]
        for line in example.splitlines()
        if "=" in line and not line.startswith("#")
    }
    for line in env_example_lines():
        name, default = line.split("=", 1)
        assert documented.get(name) == default, f"{name} missing or stale in .env.example"


def test_serve_in_production_without_twilio_stops_with_the_settings_to_set(
    tmp_path: Path,
) -> None:
    environ = {k: v for k, v in os.environ.items() if not k.startswith(("SMSBANK_", "TWILIO_"))}
    environ.update({k: v for k, v in PRODUCTION.items() if not k.startswith("TWILIO_")})
    serve = [sys.executable, "-m", "smsbank", "serve", "--port", str(free_port())]
    # A bank that starts anyway serves until the timeout, which fails the test.
    result = subprocess.run(
        serve, env=environ, cwd=tmp_path, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 1
    assert "TWILIO_ACCOUNT_SID" in result.stderr and "Traceback" not in result.stderr


def test_allowed_countries_default_to_the_banks_number_then_the_region() -> None:
    assert Settings(twilio_phone_number="+447700900123").allowed_regions == {"GB"}
    assert Settings(default_region="CA").allowed_regions == {"CA"}
    assert Settings(allowed_countries=" us, ca ").allowed_regions == {"US", "CA"}
    with pytest.raises(SettingsError, match="SMSBANK_ALLOWED_COUNTRIES"):
        Settings.from_env(environ={"SMSBANK_ALLOWED_COUNTRIES": "US,XX"}, dotenv_path=None)
    with pytest.raises(SettingsError, match="SMSBANK_OUTBOUND_CALLS_PER_HOUR"):
        Settings.from_env(environ={"SMSBANK_OUTBOUND_CALLS_PER_HOUR": "-1"}, dotenv_path=None)


def test_liveness_is_a_challenge_unless_turned_off() -> None:
    assert Settings.from_env(environ={}, dotenv_path=None).liveness == "challenge"
    off = Settings.from_env(environ={"SMSBANK_LIVENESS": "off"}, dotenv_path=None)
    assert off.liveness == "off"
    assert Settings.from_env(environ=PRODUCTION, dotenv_path=None).fixed_liveness_steps is None


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("SMSBANK_LIVENESS", "maybe"),
        ("SMSBANK_LIVENESS_MIN_YAW", "2"),
        ("SMSBANK_LIVENESS_MIN_YAW", "90"),
        ("SMSBANK_LIVENESS_STEPS", "left"),
        ("SMSBANK_LIVENESS_STEPS", "left,left"),
        ("SMSBANK_LIVENESS_STEPS", "left,right,up"),
        ("SMSBANK_LIVENESS_MAX_FRAME_BYTES", "0"),
        ("SMSBANK_LIVENESS_MAX_FRAME_BYTES", str(64 * 1024 * 1024)),
    ],
)
def test_malformed_liveness_settings_are_refused(name: str, value: str) -> None:
    with pytest.raises(SettingsError, match=name):
        Settings.from_env(environ={name: value}, dotenv_path=None)


def test_a_fixed_step_order_is_for_tests_and_production_refuses_it() -> None:
    fixed = Settings.from_env(environ={"SMSBANK_LIVENESS_STEPS": "Right, left"}, dotenv_path=None)
    assert fixed.fixed_liveness_steps == ("right", "left")
    message = production_refusal({**PRODUCTION, "SMSBANK_LIVENESS_STEPS": "left,right"})
    assert "SMSBANK_LIVENESS_STEPS" in message
