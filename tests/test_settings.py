from pathlib import Path

import pytest

from smsbank.settings import DEV_SECRET_KEY, Settings, SettingsError, env_example_lines

PROJECT = Path(__file__).resolve().parent.parent


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
            },
            dotenv_path=None,
        )


def test_production_refuses_the_published_admin_key_and_plain_http() -> None:
    with pytest.raises(SettingsError) as excinfo:
        Settings.from_env(
            environ={
                "SMSBANK_ENV": "production",
                "SMSBANK_SECRET_KEY": "s" * 40,
                "SMSBANK_PUBLIC_BASE_URL": "http://bank.example.com",
            },
            dotenv_path=None,
        )
    assert "SMSBANK_ADMIN_API_KEY" in str(excinfo.value)
    assert "https" in str(excinfo.value)


def test_production_starts_with_real_secrets() -> None:
    settings = Settings.from_env(
        environ={
            "SMSBANK_ENV": "production",
            "SMSBANK_SECRET_KEY": "s" * 40,
            "SMSBANK_ADMIN_API_KEY": "k" * 30,
            "SMSBANK_PUBLIC_BASE_URL": "https://bank.example.com",
        },
        dotenv_path=None,
    )
    assert settings.is_production
    assert settings.secret_key != DEV_SECRET_KEY


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


def test_allowed_countries_default_to_the_banks_number_then_the_region() -> None:
    assert Settings(twilio_phone_number="+447700900123").allowed_regions == {"GB"}
    assert Settings(default_region="CA").allowed_regions == {"CA"}
    assert Settings(allowed_countries=" us, ca ").allowed_regions == {"US", "CA"}
    with pytest.raises(SettingsError, match="SMSBANK_ALLOWED_COUNTRIES"):
        Settings.from_env(environ={"SMSBANK_ALLOWED_COUNTRIES": "US,XX"}, dotenv_path=None)
    with pytest.raises(SettingsError, match="SMSBANK_OUTBOUND_CALLS_PER_HOUR"):
        Settings.from_env(environ={"SMSBANK_OUTBOUND_CALLS_PER_HOUR": "-1"}, dotenv_path=None)
