"""What Twilio does toward the hub in these tests: signed webhooks, built the way Twilio builds them.

Signatures come from Twilio's own `RequestValidator.compute_signature`, over the URL Twilio was
told to call (the hub's public URL), whatever address the request then really arrives at.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from typing import Any

from twilio.request_validator import RequestValidator

from channels.sms.settings import INBOUND_PATH, STATUS_PATH

ACCOUNT_SID = "AC" + "0123456789abcdef" * 2
AUTH_TOKEN = "fake-auth-token-for-tests-0001"
NUMBER = "+15017122661"  # our Twilio number
SERVICE_SID = "MG" + "fedcba9876543210" * 2  # our Messaging Service
CUSTOMER = "+14155550123"
PUBLIC_URL = "http://testserver"  # what tests.conftest.make_settings sets, and TestClient's base

_sids = itertools.count(1)


def new_sid() -> str:
    return f"SM{next(_sids):032x}"


def twilio_settings(api_url: str, **overrides: Any) -> dict[str, Any]:
    return {"account_sid": ACCOUNT_SID, "auth_token": AUTH_TOKEN, "numbers": [NUMBER], "api_base_url": api_url,
            **overrides}


def sign(url: str, params: dict[str, str], token: str = AUTH_TOKEN) -> dict[str, str]:
    return {"X-Twilio-Signature": RequestValidator(token).compute_signature(url, params)}


def inbound_params(*, sid: str | None = None, from_: str = CUSTOMER, to: str = NUMBER, body: str = "Hello",
                   media: Sequence[tuple[str, str]] = (), service: str | None = None,
                   **extra: str) -> dict[str, str]:
    """The fields of Twilio's incoming-message webhook."""
    sid = sid or new_sid()
    params = {
        "AccountSid": ACCOUNT_SID,
        "ApiVersion": "2010-04-01",
        "MessageSid": sid,
        "SmsMessageSid": sid,
        "SmsSid": sid,
        "SmsStatus": "received",
        "From": from_,
        "FromCountry": "US",
        "To": to,
        "ToCountry": "US",
        "Body": body,
        "NumSegments": "1",
        "NumMedia": str(len(media)),
    }
    for i, (url, content_type) in enumerate(media):
        params[f"MediaUrl{i}"] = url
        params[f"MediaContentType{i}"] = content_type
    if service:
        params["MessagingServiceSid"] = service
    params.update(extra)
    return params


def inbound_url(public_url: str = PUBLIC_URL) -> str:
    return public_url.rstrip("/") + INBOUND_PATH


def status_url(public_url: str = PUBLIC_URL) -> str:
    return public_url.rstrip("/") + STATUS_PATH
