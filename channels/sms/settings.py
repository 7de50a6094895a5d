"""What the SMS channel needs to know, handed over by the composition root (config.app)."""

from __future__ import annotations

from dataclasses import dataclass

TWILIO_API_BASE = "https://api.twilio.com"
INBOUND_PATH = "/channels/sms/twilio/inbound"
STATUS_PATH = "/channels/sms/twilio/status"


@dataclass(frozen=True)
class SmsSettings:
    account_sid: str | None = None
    auth_token: str | None = None
    numbers: tuple[str, ...] = ()
    messaging_service_sid: str | None = None
    # Twilio's REST base: a regional edge (https://api.dublin.ie1.twilio.com) or a local fake.
    api_base_url: str | None = None
    # How Twilio sees the hub (scheme, host, any path prefix a proxy adds): webhooks are signed
    # against this URL, and status callbacks are requested at it.
    public_url: str = "http://127.0.0.1:8000"
    validate_signatures: bool = True
    timeout_seconds: float = 15.0
    # Twilio's webhooks are small (a 1,600-character text, ten media URLs, a few dozen fields): a
    # larger body or more fields is refused (413) before anything is parsed or signed.
    webhook_max_bytes: int = 65_536
    webhook_max_fields: int = 256
    # Peers (IP addresses or networks) whose X-Forwarded-Proto/Host may name the URL Twilio signed:
    # the reverse proxies in front of the hub. From anyone else those headers are ignored.
    trusted_proxies: tuple[str, ...] = ()

    @property
    def configured(self) -> bool:
        return bool(self.account_sid and self.auth_token)

    @property
    def api_base(self) -> str:
        return (self.api_base_url or TWILIO_API_BASE).rstrip("/")

    def public(self, path: str) -> str:
        return self.public_url.rstrip("/") + path

    @property
    def status_callback_url(self) -> str:
        return self.public(STATUS_PATH)
