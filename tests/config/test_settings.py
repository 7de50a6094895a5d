"""Settings: defaults, then config/hub.toml (or HUB_CONFIG), then HUB_* environment variables on top."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from pydantic import ValidationError

from config.settings import DEFAULT_TOML, ROOT, load_settings


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Only what a test sets: no HUB_* from the developer's shell."""
    for name in list(os.environ):
        if name.startswith("HUB_"):
            monkeypatch.delenv(name)


@pytest.fixture
def toml(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "hub.toml"
    path.write_text(
        'port = 9001\n'
        'database_url = "sqlite:////srv/hub/hub.db"\n'
        'replay_limit = 500\n'
        '[twilio]\n'
        'account_sid = "AC_from_file"\n'
        'auth_token = "token_from_file"\n'
        'numbers = ["+15550001111"]\n'
        'validate_signatures = false\n'
        '[api_channel]\n'
        'callbacks = { crm = "https://crm.example.com/replies" }\n'
        'timeout_seconds = 3.5\n'
    )
    monkeypatch.setenv("HUB_CONFIG", str(path))
    return path


def test_the_shipped_defaults_run_embedded() -> None:
    settings = load_settings()
    assert settings.database_url == f"sqlite:///{ROOT / 'var' / 'hub.db'}"
    assert settings.redis_url is None
    assert (settings.host, settings.port) == ("127.0.0.1", 8000)
    assert settings.login_max_failures == 5
    assert settings.twilio.validate_signatures is True
    assert settings.twilio.auth_token is None
    assert settings.api_channel.callbacks == {}
    assert settings.api_channel.timeout_seconds == 10.0
    assert DEFAULT_TOML.is_file()


def test_a_config_file_named_by_hub_config_overrides_the_defaults(toml: Path) -> None:
    settings = load_settings()
    assert settings.port == 9001
    assert settings.database_url == "sqlite:////srv/hub/hub.db"
    assert settings.replay_limit == 500
    assert settings.twilio.account_sid == "AC_from_file"
    assert settings.twilio.numbers == ["+15550001111"]
    assert settings.twilio.validate_signatures is False
    assert settings.api_channel.callbacks == {"crm": "https://crm.example.com/replies"}
    assert settings.api_channel.timeout_seconds == 3.5
    assert settings.host == "127.0.0.1"  # not in the file: the default


def test_environment_variables_win_over_the_file(toml: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HUB_PORT", "9100")
    monkeypatch.setenv("HUB_DATABASE_URL", "postgresql://hub@db.internal/hub")
    monkeypatch.setenv("HUB_REDIS_URL", "redis://cache.internal:6379/0")
    monkeypatch.setenv("HUB_COOKIE_SECURE", "true")
    settings = load_settings()
    assert settings.port == 9100
    assert settings.database_url == "postgresql://hub@db.internal/hub"
    assert settings.redis_url == "redis://cache.internal:6379/0"
    assert settings.cookie_secure is True
    assert settings.replay_limit == 500  # still from the file


def test_nested_sections_take_double_underscore_variables(toml: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HUB_TWILIO__AUTH_TOKEN", "token_from_env")
    monkeypatch.setenv("HUB_API_CHANNEL__TIMEOUT_SECONDS", "1.25")
    settings = load_settings()
    assert settings.twilio.auth_token == "token_from_env"
    # The rest of the [twilio] table still comes from the file.
    assert settings.twilio.account_sid == "AC_from_file"
    assert settings.twilio.numbers == ["+15550001111"]
    assert settings.twilio.validate_signatures is False
    assert settings.api_channel.timeout_seconds == 1.25
    assert settings.api_channel.callbacks == {"crm": "https://crm.example.com/replies"}


def test_nested_variables_work_without_a_file_section(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HUB_TWILIO__AUTH_TOKEN", "secret")
    monkeypatch.setenv("HUB_TWILIO__ACCOUNT_SID", "AC123")
    monkeypatch.setenv("HUB_API_CHANNEL__CALLBACKS", '{"crm": "https://crm.example.com/in", "shop": "http://s/x"}')
    settings = load_settings()
    assert (settings.twilio.account_sid, settings.twilio.auth_token) == ("AC123", "secret")
    assert settings.twilio.validate_signatures is True
    assert settings.api_channel.callbacks == {"crm": "https://crm.example.com/in", "shop": "http://s/x"}


def test_values_passed_in_code_win_over_everything(toml: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HUB_PORT", "9100")
    assert load_settings(port=7000).port == 7000


def test_settings_are_read_when_loaded_not_at_import(monkeypatch: pytest.MonkeyPatch) -> None:
    assert load_settings().replay_limit == 10_000
    monkeypatch.setenv("HUB_REPLAY_LIMIT", "42")
    assert load_settings().replay_limit == 42


def test_a_bad_value_is_refused_naming_the_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HUB_PORT", "eighty")
    with pytest.raises(ValidationError) as exc:
        load_settings()
    assert "port" in str(exc.value)
    monkeypatch.delenv("HUB_PORT")
    monkeypatch.setenv("HUB_API_CHANNEL__CALLBACKS", "not json")
    with pytest.raises(Exception, match="api_channel"):
        load_settings()


def test_unknown_hub_variables_are_ignored(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HUB_NOT_A_SETTING", "x")
    monkeypatch.setenv("HUB_TEST_PG_URL", "postgresql://elsewhere/test")  # the test suite's own variable
    assert load_settings().port == 8000


def test_a_broken_config_file_stops_the_hub(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "broken.toml"
    path.write_text("port = \n[twilio\n")
    monkeypatch.setenv("HUB_CONFIG", str(path))
    with pytest.raises(Exception, match="(?i)toml|invalid|expected"):
        load_settings()


def test_a_missing_config_file_named_by_hub_config_stops_the_hub(tmp_path: Path,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HUB_CONFIG", str(tmp_path / "typo.toml"))
    with pytest.raises(Exception, match="typo.toml"):
        load_settings()


def test_trusted_proxies_take_addresses_and_networks_and_refuse_anything_else(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HUB_TRUSTED_PROXIES", '["10.0.0.0/8", "::1"]')
    assert load_settings().trusted_proxies == ["10.0.0.0/8", "::1"]
    monkeypatch.setenv("HUB_TRUSTED_PROXIES", '["proxy.example.com"]')
    with pytest.raises(ValidationError, match="proxy.example.com"):
        load_settings()


def test_allowed_origins_must_be_origins(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HUB_ALLOWED_ORIGINS", '["https://crm.example.com", "http://localhost:3000/"]')
    assert len(load_settings().allowed_origins) == 2
    for bad in ("crm.example.com", "https://crm.example.com/app", "ftp://x.example"):
        monkeypatch.setenv("HUB_ALLOWED_ORIGINS", f'["{bad}"]')
        with pytest.raises(ValidationError, match="not an origin"):
            load_settings()


def test_the_session_cookie_is_secure_by_default_exactly_when_the_public_url_is_https() -> None:
    assert load_settings(public_url="https://support.example.com").session_cookie_secure is True
    assert load_settings(public_url="HTTPS://support.example.com").session_cookie_secure is True
    assert load_settings(public_url="http://127.0.0.1:8000").session_cookie_secure is False
    assert load_settings(public_url="https://support.example.com", cookie_secure=False).session_cookie_secure is False
    assert load_settings(public_url="http://127.0.0.1:8000", cookie_secure=True).session_cookie_secure is True


def test_email_comes_from_the_file_and_the_environment(toml: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with toml.open("a") as f:
        f.write('[email]\nlistener_port = 2600\n[[email.mailboxes]]\naddress = "help@example.com"\n'
                'smtp = { host = "smtp.example.com", port = 465, tls = true, starttls = false }\n')
    monkeypatch.setenv("HUB_EMAIL__LISTENER_ENABLED", "true")
    s = load_settings()
    assert (s.email.listener_enabled, s.email.listener_port) == (True, 2600)
    [box] = s.email.mailboxes
    assert (box.address, box.smtp.port, box.smtp.tls, box.imap) == ("help@example.com", 465, True, None)
