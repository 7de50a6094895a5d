"""The API channel: other systems post customer messages in (webhooks.py), and replies are POSTed
as JSON to the source's callback URL.

The callbacks go out through aiohttp's client, not httpx: a POST cost ~0.1 ms of CPU against
~0.9 ms with httpx's AsyncClient, and with agents replying at 15 a second the send was a sixth of
the hub's CPU per reply (bench/RESULTS.md, "Issue 17, session 11").
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Sequence
from typing import Any

import aiohttp

from channels.api.webhooks import create_router
from hub.ports import BaseAdapter, Outbound, OutboundMessage, PermanentError, SendResult, TransientError


class ApiChannel(BaseAdapter):
    channel = "api"
    address_kind = None  # replies go to the source's callback URL, with the contact id

    def __init__(self, callbacks: dict[str, str], *, secret: str | None, timeout: float = 10.0) -> None:
        self.callbacks = callbacks
        self.secret = secret
        self.timeout = aiohttp.ClientTimeout(total=timeout)
        self.client: aiohttp.ClientSession | None = None  # made on the running loop, at the first send
        self.stopped = False

    def routes(self) -> Sequence[Any]:
        return create_router(self).routes

    async def stop(self) -> None:
        self.stopped = True
        if self.client is not None:
            await self.client.close()

    async def send(self, message: Outbound) -> SendResult:
        if self.stopped:  # stopped while the delivery worker still runs: another node, or later
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
        if self.client is None:
            # trust_env: the proxy the environment names (HTTP(S)_PROXY, NO_PROXY), as httpx did.
            self.client = aiohttp.ClientSession(timeout=self.timeout, trust_env=True)
        try:
            # Not followed: aiohttp would turn a 301/302's POST into a GET without the reply, which
            # the new place may answer 200 ("delivered", and nobody has it).
            async with self.client.post(url, data=body, headers=headers, allow_redirects=False) as resp:
                status, answer = resp.status, await resp.read()
                delivery_id = resp.headers.get("X-Delivery-Id")
                moved_to = resp.headers.get("Location", "")
        except TimeoutError as exc:
            raise TransientError("callback unreachable: no answer in time", reason="callback_unreachable") from exc
        except aiohttp.ClientError as exc:
            raise TransientError(f"callback unreachable: {exc}", reason="callback_unreachable", words=str(exc)) from exc
        if status == 429 or status >= 500:
            raise TransientError(f"callback answered {status}", reason="callback_failed", status=status)
        if status >= 400:
            text = answer.decode("utf-8", "replace")[:200]
            raise PermanentError(f"callback refused the reply with {status}: {text}", reason="callback_refused",
                                 status=status, words=text)
        if not 200 <= status < 300:
            raise PermanentError(f"callback answered {status} (to {moved_to[:200]!r}): the hub does not follow "
                                 "redirects, configure the callback's own URL")
        return SendResult(provider_id=delivery_id or f"api-{message.outbox_id}", status="delivered")
