"""Settings: the one place that reads the environment.

Order of precedence: `HUB_*` environment variables, then the TOML file (`HUB_CONFIG`, default
`config/hub.toml`), then the defaults below. Nested sections use a double underscore in the
environment, e.g. `HUB_TWILIO__AUTH_TOKEN`.
"""

from __future__ import annotations

import ipaddress
import os
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, Field, field_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from channels.webchat.settings import WebchatSettings

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_TOML = Path(__file__).resolve().parent / "hub.toml"


class TwilioSettings(BaseModel):
    account_sid: str | None = None
    auth_token: str | None = None
    # Our numbers (E.164) and/or Messaging Service SIDs that may receive and send.
    numbers: list[str] = Field(default_factory=list)
    messaging_service_sid: str | None = None
    # Twilio's REST base (a regional edge, or a local fake in tests).
    api_base_url: str | None = None
    validate_signatures: bool = True
    # Twilio's webhooks are a few KB: larger bodies, or more fields, are refused before parsing.
    webhook_max_bytes: int = Field(default=65_536, gt=0)
    webhook_max_fields: int = Field(default=256, gt=0)


class ApiChannelSettings(BaseModel):
    # Replies on conversations of an API source are POSTed to that source's callback URL.
    callbacks: dict[str, str] = Field(default_factory=dict)
    callback_secret: str | None = None
    timeout_seconds: float = 10.0


class EmailSmtpSettings(BaseModel):
    """A mailbox's outgoing server. `tls`: implicit TLS (465); `starttls`: upgrade (587)."""

    host: str = "127.0.0.1"
    port: int = Field(default=587, gt=0, lt=65536)
    tls: bool = False
    starttls: bool = True
    username: str | None = None
    password: str | None = None
    timeout_seconds: float = Field(default=30.0, gt=0)


class EmailImapSettings(BaseModel):
    """A mailbox's IMAP account, watched with IDLE (polled without it)."""

    host: str
    port: int = Field(default=993, gt=0, lt=65536)
    tls: bool = True
    starttls: bool = False
    username: str
    password: str = ""
    folder: str = "INBOX"
    poll_seconds: float = Field(default=60.0, gt=0)
    ca_file: str | None = None
    # Sent mail's folder: the one flagged \Sent, else this name. Looked in before sending again a
    # reply whose earlier attempt may have gone out.
    sent_folder: str = "Sent"
    append_sent: bool = False  # file a copy of each reply there (for servers that do not themselves)


class EmailMailboxSettings(BaseModel):
    address: str  # support@example.com: replies leave from it, mail to it (and to support+token@) comes in
    display_name: str = ""
    signature: str = ""
    language: str = "en"  # of the words customers read in our mail ("On <date>, <name> wrote:")
    subject_token: bool = True  # "[#token]" in subjects, for mail clients that drop Reply-To
    # The receiving server whose Authentication-Results are trusted ("mx.google.com"): a From that
    # DMARC/DKIM/SPF did not prove is then flagged and held apart from the customer it names.
    authserv_id: str = ""
    smtp: EmailSmtpSettings = Field(default_factory=EmailSmtpSettings)
    imap: EmailImapSettings | None = None  # None: mail arrives through the SMTP listener only

    @field_validator("address")
    @classmethod
    def _address(cls, value: str) -> str:
        local, at, domain = value.strip().lower().rpartition("@")
        if not (at and local and "." in domain) or any(c in value for c in " \r\n,<>"):
            raise ValueError(f"email.mailboxes: {value!r} is not an address like support@example.com")
        return f"{local}@{domain}"


class EmailChannelSettings(BaseModel):
    # Mailboxes from this file; admins add more in the console (stored, passwords encrypted).
    mailboxes: list[EmailMailboxSettings] = Field(default_factory=list)
    # The hub's own SMTP server for mail a relay forwards (off by default: it listens on a port).
    listener_enabled: bool = False
    listener_host: str = "127.0.0.1"
    listener_port: int = Field(default=2525, gt=0, lt=65536)
    # A mail larger than this is refused (552) by the listener, kept raw (not ingested) from IMAP.
    max_bytes: int = Field(default=25 * 1024 * 1024, gt=0)


class RoutingSettings(BaseModel):
    # [[routing.rules]] tables: name, team (name), priority, skill, and match conditions
    # channel / tier / language / source / keywords (each a list: any of).
    rules: list[dict[str, Any]] = Field(default_factory=list)
    default_capacity: dict[str, int] = Field(
        default_factory=lambda: {"webchat": 3, "sms": 5, "email": 10, "voice": 1, "api": 5}
    )
    sticky_wait_seconds: float = 30.0
    pass_cooldown_seconds: float = 300.0
    presence_grace_seconds: float = 60.0
    sla_boost: int = 10
    # Channels whose conversations go back to the queue when their agent goes offline.
    release_on_offline: list[str] = Field(default_factory=lambda: ["webchat", "voice"])
    # Channels whose conversations are offered to an agent, who accepts within their team's
    # offer_timeout_seconds, instead of being assigned outright.
    offer_channels: list[str] = Field(default_factory=lambda: ["webchat"])


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="HUB_", env_nested_delimiter="__", extra="ignore")

    database_url: str = f"sqlite:///{ROOT / 'var' / 'hub.db'}"
    redis_url: str | None = None
    redis_prefix: str = "hub:"
    public_url: str = "http://127.0.0.1:8000"
    # The reverse proxies in front of the hub (IP addresses or networks, e.g. "10.0.0.0/8"): only
    # from these peers are X-Forwarded-* headers believed. Empty: from nobody.
    trusted_proxies: list[str] = Field(default_factory=list)
    # Other sites (origins, e.g. "https://crm.example.com") from which a browser signed in to the
    # hub may write or open the agent socket with its session cookie. The public URL's is always.
    allowed_origins: list[str] = Field(default_factory=list)
    secret_key: str | None = None
    # Where a random secret is kept when secret_key is unset (config/secrets.py): one process only.
    secret_key_file: str = str(ROOT / "var" / "secret_key")
    host: str = "127.0.0.1"
    port: int = 8000
    workers_in_web: bool = True  # run the delivery worker and timers inside `hub serve`
    admin_email: str = "admin@example.com"
    admin_password: str | None = None
    session_ttl_hours: int = 24 * 14
    # The session cookie's Secure flag; None: set when public_url is https (see session_cookie_secure).
    cookie_secure: bool | None = None
    # Login throttling (hub/agents/throttle.py): failures allowed per account and address before
    # backoff starts, seconds without a failure after which they are forgotten (and the longest
    # backoff), and how many accounts/addresses each of its maps remembers.
    login_max_failures: int = 5
    login_window_seconds: int = 300
    login_throttle_entries: int = 10_000
    # Password checks run at once (0: one per core) and waiting; beyond both, logins get 503.
    login_verify_slots: int = 0
    login_verify_queue: int = 32
    reopen_window_days: int = 7
    # Inbound items kept raw for admins (unparseable, or refused by ingest) are cut to this size.
    raw_payload_max_bytes: int = Field(default=10 * 1024 * 1024, ge=1024)
    poll_interval_seconds: float = 1.0
    replay_limit: int = 10_000
    delivery_max_attempts: int = 8
    # A claimed outbox row's lease, renewed by its live worker every third of it: a reply claimed
    # by a process that died is sent by another within about this long.
    delivery_lease_seconds: float = Field(default=10.0, ge=1.0, le=3600.0)
    max_body_bytes: int = 1_000_000
    # Attachments (email parts, widget and agent uploads): their bytes on disk here (hub/blobs.py),
    # each at most this large (a bigger one is refused, with the limit in the words).
    attachments_dir: str = str(ROOT / "var" / "attachments")
    attachment_max_bytes: int = Field(default=25 * 1024 * 1024, gt=0)
    # "company": every agent reads every customer's whole history (and adds notes there), and
    # replies or changes status on their own work; "team": teams are isolated completely
    # (hub/events/visibility.py).
    visibility: Literal["company", "team"] = "company"
    # FastAPI's native OpenTelemetry (traces, metrics, logs) when an SDK is configured. Off by
    # default: its per-request check for a configured provider cost a tenth of the CPU of an
    # inbound message (bench/RESULTS.md).
    opentelemetry: bool = False
    twilio: TwilioSettings = Field(default_factory=TwilioSettings)
    # Channels beyond the built-in ones (config/channels.py): "module:factory" paths, each
    # `factory(settings)` returning a ChannelAdapter (hub/ports.py).
    extra_channels: list[str] = Field(default_factory=list)
    api_channel: ApiChannelSettings = Field(default_factory=ApiChannelSettings)
    # The web chat's widgets ([[webchat.widgets]]: id, name, colour, greeting, source, pre-chat
    # fields, allowed_origins, identity_secret, require_identity) and limits; on by default with a
    # demo widget (GET /widget/demo).
    webchat: WebchatSettings = Field(default_factory=WebchatSettings)
    email: EmailChannelSettings = Field(default_factory=EmailChannelSettings)
    routing: RoutingSettings = Field(default_factory=RoutingSettings)

    @property
    def session_cookie_secure(self) -> bool:
        """Secure whenever the public URL is https, unless `cookie_secure` says otherwise: the
        session token then never travels over plain http."""
        if self.cookie_secure is not None:
            return self.cookie_secure
        return self.public_url.lower().startswith("https://")

    @field_validator("trusted_proxies")
    @classmethod
    def _networks(cls, value: list[str]) -> list[str]:
        for entry in value:
            try:
                ipaddress.ip_network(entry, strict=False)
            except ValueError as exc:
                raise ValueError(f"trusted_proxies: {entry!r} is not an IP address or network") from exc
        return value

    @field_validator("extra_channels")
    @classmethod
    def _factories(cls, value: list[str]) -> list[str]:
        for entry in value:
            module, colon, attr = entry.partition(":")
            if not (colon and module and attr.isidentifier()):
                raise ValueError(f"extra_channels: {entry!r} is not a path like package.module:factory")
        return value

    @field_validator("allowed_origins")
    @classmethod
    def _origins(cls, value: list[str]) -> list[str]:
        for entry in value:
            parts = urlsplit(entry)
            if parts.scheme not in ("http", "https") or not parts.hostname or parts.path.strip("/"):
                raise ValueError(f"allowed_origins: {entry!r} is not an origin like https://crm.example.com")
        return value

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        named = os.environ.get("HUB_CONFIG")
        toml_path = Path(named) if named else DEFAULT_TOML
        if named and not toml_path.is_file():
            # A typo here must not start the hub on defaults (another database, no channels).
            raise FileNotFoundError(f"HUB_CONFIG names {toml_path}, which does not exist")
        return (init_settings, env_settings, TomlConfigSettingsSource(settings_cls, toml_file=toml_path))


def load_settings(**overrides: Any) -> Settings:
    return Settings(**overrides)
