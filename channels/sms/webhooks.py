"""Twilio's webhooks: customer texts in (`/inbound`) and delivery status callbacks (`/status`).

Each request is checked against `X-Twilio-Signature` before anything is read into the hub; a
missing or wrong signature gets 403 and stores nothing. What an unsigned request can cost is
bounded before any work: no signature header, no body read; a body over `webhook_max_bytes` or
with more than `webhook_max_fields` fields, 413 before it is parsed; then at most four HMACs
(signatures.py). A genuine webhook (1-3 KB) is parsed and checked on the event loop in ~0.1 ms; a
body over INLINE_BYTES goes to a thread of its own limiter (below). The answer (empty TwiML, 200) is sent only
after the hub committed what the request said, and any failure on our side answers 5xx, so that
Twilio's retry (or ours, after an outage) brings the same MessageSid again: the unique key on
(ingest scope, MessageSid) turns that retry into a no-op if the first attempt did commit.
"""

from __future__ import annotations

import logging

import anyio.to_thread
from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse

from channels.lean_routes import RequestRoute, not_running
from channels.sms import error_codes, parsing
from channels.sms.settings import INBOUND_PATH, STATUS_PATH, SmsSettings
from channels.sms.signatures import (
    SIGNATURE_HEADER,
    FormParams,
    SignatureChecker,
    forwarded_url,
    parse_form,
    public_route_url,
    webhook_headers,
)
from hub.ports import BaseAdapter, RejectedMessage, TrustedProxies

logger = logging.getLogger(__name__)

EMPTY_TWIML = '<?xml version="1.0" encoding="UTF-8"?><Response/>'
FORM_TYPE = "application/x-www-form-urlencoded"
# Percent-decoding is pure Python: 64 KB of %XX escapes took ~5 ms. Bodies over this size are
# parsed and checked on a thread, two at a time, so a flood of them queues there, not on the event
# loop or in the thread pool that every other request shares. Twilio's own are far smaller.
INLINE_BYTES = 8_192
# Says what is wrong without telling an unsigned caller how the hub sees itself.
FORBIDDEN = ("missing or invalid X-Twilio-Signature: this webhook takes only requests Twilio signed for the "
             "hub's public URL (HUB_PUBLIC_URL)")


def _error(status: int, code: str, message: str) -> JSONResponse:
    return JSONResponse({"error": code, "message": message}, status_code=status)


def _twiml() -> Response:
    return Response(EMPTY_TWIML, media_type="text/xml")


class TwilioWebhooks:
    def __init__(self, settings: SmsSettings, channel: BaseAdapter) -> None:
        self.settings = settings
        self.channel = channel  # whose port, once started, takes what Twilio posts
        self.checker = SignatureChecker(settings.auth_token) if settings.auth_token else None
        self.trusted = TrustedProxies(settings.trusted_proxies)
        self._limiter = anyio.CapacityLimiter(2)
        if settings.configured and not settings.validate_signatures:
            logger.warning("Twilio signature checks are OFF: anyone can post fake texts to the SMS webhooks")

    async def read(self, request: Request, route_path: str) -> FormParams | JSONResponse:
        """The posted fields of a genuine Twilio request, or the answer to give instead."""
        if not self.settings.configured or self.checker is None:
            return _error(503, "not_configured", "SMS channel is not configured: set HUB_TWILIO__ACCOUNT_SID and "
                                                 "HUB_TWILIO__AUTH_TOKEN")
        headers = webhook_headers(request.scope["headers"])
        signature = headers.get(SIGNATURE_HEADER)
        check = self.settings.validate_signatures
        if check and not signature:
            return _error(403, "forbidden", FORBIDDEN)
        if not headers.get("content-type", "").startswith(FORM_TYPE):
            return _error(415, "unsupported_media_type", f"Twilio webhooks are posted as {FORM_TYPE}")
        body = await self._body(request, headers.get("content-length"))
        if body is None:
            return _error(413, "too_large", f"a Twilio webhook's body is at most {self.settings.webhook_max_bytes} "
                                            "bytes (HUB_TWILIO__WEBHOOK_MAX_BYTES)")
        if body.count(b"&") >= self.settings.webhook_max_fields:
            return _error(413, "too_large", f"a Twilio webhook has at most {self.settings.webhook_max_fields} fields "
                                            "(HUB_TWILIO__WEBHOOK_MAX_FIELDS)")
        urls = self._signed_urls(request, headers, route_path) if check else None
        if len(body) <= INLINE_BYTES:
            params = self._verified(body, urls, signature or "")
        else:
            params = await anyio.to_thread.run_sync(self._verified, body, urls, signature or "",
                                                    limiter=self._limiter)
        if params is None:
            logger.info("refused a Twilio webhook: its signature is not for %s", self.settings.public(route_path))
            return _error(403, "forbidden", FORBIDDEN)
        return params

    def _verified(self, body: bytes, urls: list[str] | None, signature: str) -> FormParams | None:
        """The fields, if signed for one of `urls` (None: not checked)."""
        # What Twilio sends, parsed directly (Starlette's streaming form parser costs far more).
        params = FormParams(parse_form(body.decode("utf-8", "replace")))
        if urls is not None and not (self.checker and self.checker.is_valid(urls, params, signature)):
            return None
        return params

    async def _body(self, request: Request, declared: str | None) -> bytes | None:
        """The body, or None as soon as it is known to be over the cap (read no further)."""
        limit = self.settings.webhook_max_bytes
        if declared is not None and not (declared.isdigit() and int(declared) <= limit):
            return None
        chunks: list[bytes] = []
        size = 0
        async for chunk in request.stream():
            size += len(chunk)
            if size > limit:
                return None
            chunks.append(chunk)
        return b"".join(chunks)

    def _signed_urls(self, request: Request, headers: dict[str, str], route_path: str) -> list[str]:
        """The route under the public URL; and the forwarded URL when a trusted proxy sent it."""
        query = request.scope["query_string"].decode("utf-8", "replace")
        urls = [public_route_url(self.settings.public_url, route_path, query)]
        client = request.scope.get("client")
        if client and client[0] in self.trusted and (forwarded := forwarded_url(request.scope, headers)):
            urls.append(forwarded)
        return urls

    async def inbound(self, request: Request) -> Response:
        params = await self.read(request, INBOUND_PATH)
        if isinstance(params, Response):
            return params
        try:
            sms = parsing.inbound_sms(params)
        except parsing.BadWebhook as exc:
            return _error(400, "invalid", str(exc))
        port = self.channel.port
        if port is None:
            return not_running(self.channel.channel)
        try:
            await port.ingest_async(sms.message)
            if sms.keyword in ("stop", "start"):
                # After the message itself, so the agent sees the STOP text and then the opt-out;
                # if this fails, the retry finds the message stored and sets the opt-out again.
                word = (sms.message.text.strip().upper() or sms.keyword.upper())[:32]
                await port.set_opt_out_async(sms.message.channel, sms.message.contact.phone or "",
                                             sms.keyword == "stop", word)
        except RejectedMessage as exc:
            logger.warning("refused Twilio message %s for good: %s", sms.message.external_id, exc)
            return _error(400, "invalid", f"this message cannot be stored: {exc}")
        except Exception:
            logger.exception("could not store Twilio message %s; Twilio is told to retry", sms.message.external_id)
            return _error(500, "internal", "the hub could not store this message; retry")
        return _twiml()

    async def status(self, request: Request) -> Response:
        params = await self.read(request, STATUS_PATH)
        if isinstance(params, Response):
            return params
        try:
            update = parsing.delivery_update(params)
        except parsing.BadWebhook as exc:
            return _error(400, "invalid", str(exc))
        if update is None:
            return _twiml()
        port = self.channel.port
        if port is None:
            return not_running(self.channel.channel)
        try:
            await anyio.to_thread.run_sync(port.apply_delivery_update, update)
            if update.error_code == str(error_codes.UNSUBSCRIBED) and params.get("To"):
                await port.set_opt_out_async(update.channel, params.get("To") or "", True,
                                             f"twilio:{update.error_code}")
        except Exception:
            logger.exception("could not record Twilio status %s for %s", update.status, update.provider_id)
            return _error(500, "internal", "the hub could not record this status; retry")
        return _twiml()


def create_router(settings: SmsSettings, channel: BaseAdapter) -> APIRouter:
    """Twilio's webhook routes, answered through `channel`'s port (once started).
    (The agents' SMS routes are `channels.sms.api.router`.)"""
    hooks = TwilioWebhooks(settings, channel)
    router = APIRouter(tags=["SMS (Twilio)"])
    router.add_api_route(INBOUND_PATH, hooks.inbound, methods=["POST"], route_class_override=RequestRoute,
                         summary="Twilio webhook: a customer's SMS/MMS (signed)")
    router.add_api_route(STATUS_PATH, hooks.status, methods=["POST"], route_class_override=RequestRoute,
                         summary="Twilio webhook: delivery status callback (signed)")
    return router
