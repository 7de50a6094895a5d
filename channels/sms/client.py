"""Vendor I/O only: the real `twilio` REST client, pointed at the configured API base.

Nothing here decides what an error means; the adapter maps Twilio's exceptions to the port's.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from twilio.http.http_client import TwilioHttpClient
from twilio.http.response import Response
from twilio.rest import Client

from channels.sms.settings import SmsSettings


class BaseUrlHttpClient(TwilioHttpClient):
    """Sends every request for a *.twilio.com host to `base` instead.

    `base` is a regional edge or a local fake. Rewriting here, rather than through the client's
    edge/region options, also keeps a stray TWILIO_REGION in the environment from steering us.
    """

    def __init__(self, base: str, *, timeout: float) -> None:
        # Twilio's own retries are off: the outbox retries with backoff and shows each attempt.
        super().__init__(timeout=timeout)
        self.base = urlsplit(base.rstrip("/"))

    def rewrite(self, url: str) -> str:
        parts = urlsplit(url)
        if not (parts.hostname or "").endswith("twilio.com"):
            return url
        return urlunsplit((self.base.scheme, self.base.netloc, self.base.path + parts.path, parts.query,
                           parts.fragment))

    def request(self, method: str, url: str, params: dict[str, object] | None = None,
                data: dict[str, object] | None = None, headers: dict[str, str] | None = None,
                auth: tuple[str, str] | None = None, timeout: float | None = None,
                allow_redirects: bool = False) -> Response:
        return super().request(method, self.rewrite(url), params=params, data=data, headers=headers, auth=auth,
                               timeout=timeout, allow_redirects=allow_redirects)


@dataclass(frozen=True)
class CreatedMessage:
    sid: str
    status: str


class TwilioMessages:
    """Twilio's Messages resource for one account. Blocking: call it from a worker thread."""

    def __init__(self, settings: SmsSettings, *, http_client: TwilioHttpClient | None = None) -> None:
        self.client = Client(
            username=settings.account_sid,
            password=settings.auth_token,
            account_sid=settings.account_sid,
            http_client=http_client or BaseUrlHttpClient(settings.api_base, timeout=settings.timeout_seconds),
        )

    def create(self, *, to: str, body: str, from_: str | None = None, messaging_service_sid: str | None = None,
               media_urls: Sequence[str] = (), status_callback: str | None = None) -> CreatedMessage:
        kwargs: dict[str, Any] = {"to": to, "body": body}
        if from_:
            kwargs["from_"] = from_
        if messaging_service_sid:
            kwargs["messaging_service_sid"] = messaging_service_sid
        if media_urls:
            kwargs["media_url"] = list(media_urls)
        if status_callback:
            kwargs["status_callback"] = status_callback
        message = self.client.messages.create(**kwargs)
        return CreatedMessage(sid=str(message.sid), status=str(message.status or "queued"))
