"""The API channel: other systems post customer messages in (webhooks.py), and replies are POSTed
as JSON to the source's callback URL."""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Sequence
from typing import Any

import httpx

from channels.api.webhooks import create_router
from hub.ports import BaseAdapter, Outbound, OutboundMessage, PermanentError, SendResult, TransientError


class ApiChannel(BaseAdapter):
    channel = "api"
    address_kind = None  # replies go to the source's callback URL, with the contact id

    def __init__(self, callbacks: dict[str, str], *, secret: str | None, timeout: float = 10.0,
                 client: httpx.AsyncClient | None = None) -> None:
        self.callbacks = callbacks
        self.secret = secret
        self.client = client or httpx.AsyncClient(timeout=timeout)

    def routes(self) -> Sequence[Any]:
        return create_router(self).routes

    async def stop(self) -> None:
        await self.client.aclose()

    async def send(self, message: Outbound) -> SendResult:
        if self.client.is_closed:  # stopped while the delivery worker still runs: another node, or later
            raise TransientError("the API channel is stopping")
        if not isinstance(message, OutboundMessage):
            raise PermanentError("the API channel sends text replies only")
        url = self.callbacks.get(message.source)
        if not url:
            raise PermanentError(f"no callback URL is configured for API source {message.source!r}")
        body = json.dumps({
            "delivery_id": message.outbox_id,
            "message_id": message.message_id,
            "conversation_id": message.conversation_id,
            "source": message.source,
            "text": message.text,
            "html": message.html,
            "subject": message.subject,
            "contact_id": message.metadata.get("contact_id"),
        }).encode()
        headers = {"Content-Type": "application/json", "Idempotency-Key": f"hub-{message.outbox_id}"}
        if self.secret:
            sig = hmac.new(self.secret.encode(), body, hashlib.sha256).hexdigest()
            headers["X-Hub-Signature"] = f"sha256={sig}"
        try:
            resp = await self.client.post(url, content=body, headers=headers)
        except httpx.HTTPError as exc:
            raise TransientError(f"callback unreachable: {exc}") from exc
        if resp.status_code == 429 or resp.status_code >= 500:
            raise TransientError(f"callback answered {resp.status_code}")
        if resp.status_code >= 400:
            raise PermanentError(f"callback refused the reply with {resp.status_code}: {resp.text[:200]}")
        provider_id = resp.headers.get("X-Delivery-Id") or f"api-{message.outbox_id}"
        return SendResult(provider_id=provider_id, status="delivered")
