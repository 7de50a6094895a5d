"""Twilio's webhooks: customer texts in (`/inbound`) and delivery status callbacks (`/status`).

Each request is checked against `X-Twilio-Signature` before anything is read into the hub; a
missing or wrong signature gets 403 and stores nothing. The answer (empty TwiML, 200) is sent only
after the hub committed what the request said, and any failure on our side answers 5xx, so that
Twilio's retry (or ours, after an outage) brings the same MessageSid again: the unique key on
(ingest scope, MessageSid) turns that retry into a no-op if the first attempt did commit.
"""

from __future__ import annotations

import functools
import logging

import anyio.to_thread
from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse

from channels.lean_routes import RequestRoute
from channels.sms import error_codes, parsing
from channels.sms.settings import INBOUND_PATH, STATUS_PATH, SmsSettings
from channels.sms.signatures import FormParams, SignatureChecker, parse_form, received_url, webhook_headers
from hub.ports import HubPort, RejectedMessage

logger = logging.getLogger(__name__)

EMPTY_TWIML = '<?xml version="1.0" encoding="UTF-8"?><Response/>'


def _error(status: int, code: str, message: str) -> JSONResponse:
    return JSONResponse({"error": code, "message": message}, status_code=status)


def _twiml() -> Response:
    return Response(EMPTY_TWIML, media_type="text/xml")


class TwilioWebhooks:
    def __init__(self, settings: SmsSettings) -> None:
        self.settings = settings
        self.checker = SignatureChecker(settings.auth_token, settings.public_url) if settings.auth_token else None
        if settings.configured and not settings.validate_signatures:
            logger.warning("Twilio signature checks are OFF: anyone can post fake texts to the SMS webhooks")

    async def read(self, request: Request) -> FormParams | JSONResponse:
        """The posted fields of a genuine Twilio request, or the answer to give instead."""
        if not self.settings.configured or self.checker is None:
            return _error(503, "not_configured", "SMS channel is not configured: set HUB_TWILIO__ACCOUNT_SID and "
                                                 "HUB_TWILIO__AUTH_TOKEN")
        headers = webhook_headers(request.scope["headers"])
        if headers.get("content-type", "").startswith("application/x-www-form-urlencoded"):
            # What Twilio sends; parsed directly (Starlette's streaming form parser costs far more).
            params = FormParams(parse_form((await request.body()).decode("utf-8", "replace")))
        else:
            form = await request.form()
            params = FormParams((k, v) for k, v in form.multi_items() if isinstance(v, str))
        if not self.settings.validate_signatures:
            return params
        path, query, url = received_url(request.scope, headers.get("host"))
        if not self.checker.is_valid(path=path, query=query, received_url=url, headers=headers, params=params):
            return _error(403, "forbidden", "missing or invalid X-Twilio-Signature for this URL "
                                            f"(checked against {self.settings.public_url}; is HUB_PUBLIC_URL right?)")
        return params

    async def inbound(self, request: Request) -> Response:
        params = await self.read(request)
        if isinstance(params, Response):
            return params
        try:
            sms = parsing.inbound_sms(params)
        except parsing.BadWebhook as exc:
            return _error(400, "invalid", str(exc))
        port: HubPort = request.app.state.hub
        try:
            await port.ingest_async(sms.message)
            if sms.keyword in ("stop", "start"):
                # After the message itself, so the agent sees the STOP text and then the opt-out;
                # if this fails, the retry finds the message stored and sets the opt-out again.
                word = (sms.message.text.strip().upper() or sms.keyword.upper())[:32]
                await anyio.to_thread.run_sync(functools.partial(
                    port.set_sms_opt_out, sms.message.contact.phone or "", sms.keyword == "stop", keyword=word))
        except RejectedMessage as exc:
            logger.warning("refused Twilio message %s for good: %s", sms.message.external_id, exc)
            return _error(400, "invalid", f"this message cannot be stored: {exc}")
        except Exception:
            logger.exception("could not store Twilio message %s; Twilio is told to retry", sms.message.external_id)
            return _error(500, "internal", "the hub could not store this message; retry")
        return _twiml()

    async def status(self, request: Request) -> Response:
        params = await self.read(request)
        if isinstance(params, Response):
            return params
        try:
            update = parsing.delivery_update(params)
        except parsing.BadWebhook as exc:
            return _error(400, "invalid", str(exc))
        if update is None:
            return _twiml()
        port: HubPort = request.app.state.hub
        try:
            await anyio.to_thread.run_sync(port.apply_delivery_update, update)
            if update.error_code == str(error_codes.UNSUBSCRIBED) and params.get("To"):
                await anyio.to_thread.run_sync(functools.partial(
                    port.set_sms_opt_out, params.get("To") or "", True, keyword=f"twilio:{update.error_code}"))
        except Exception:
            logger.exception("could not record Twilio status %s for %s", update.status, update.provider_id)
            return _error(500, "internal", "the hub could not record this status; retry")
        return _twiml()


def create_router(settings: SmsSettings) -> APIRouter:
    """Twilio's webhook routes. Always mounted: without Twilio settings they answer 503.
    (The agents' SMS routes are `channels.sms.api.router`.)"""
    hooks = TwilioWebhooks(settings)
    router = APIRouter(tags=["SMS (Twilio)"])
    router.add_api_route(INBOUND_PATH, hooks.inbound, methods=["POST"], route_class_override=RequestRoute,
                         summary="Twilio webhook: a customer's SMS/MMS (signed)")
    router.add_api_route(STATUS_PATH, hooks.status, methods=["POST"], route_class_override=RequestRoute,
                         summary="Twilio webhook: delivery status callback (signed)")
    return router
