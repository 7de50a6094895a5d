"""The SMS channel's outbound side: an agent's reply leaves through Twilio's Messages API.

A reply leaves from where the customer wrote to: the conversation's source is either one of our
numbers (sent as `From`) or a Messaging Service SID (sent as `MessagingServiceSid`, so Twilio
picks the sender from the service's pool). Twilio's errors become the port's errors here: network
trouble, 429 and 5xx are transient (the outbox retries with backoff); other 4xx answers are
permanent and carry Twilio's code and words, e.g. "[21211] Invalid 'To' Phone Number".
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from typing import Any

from twilio.base.exceptions import TwilioRestException, TwilioServiceException

from channels.sms import api, error_codes, webhooks
from channels.sms.client import CreatedMessage, TwilioMessages
from channels.sms.settings import SmsSettings
from channels.sms.statuses import hub_status
from hub.ports import BaseAdapter, Outbound, OutboundMessage, PermanentError, SendResult, TransientError

logger = logging.getLogger(__name__)

_CREATE_PREFIX = "Unable to create record"


def is_messaging_service(source: str) -> bool:
    return source.startswith("MG")


def _twilio_words(msg: str | None) -> str | None:
    """Twilio's own message, without the client library's "Unable to create record: " preamble."""
    if not msg:
        return None
    if msg.startswith(_CREATE_PREFIX):
        msg = msg[len(_CREATE_PREFIX):].lstrip(": ").strip()
    return msg or None


def _reason(status: int, code: int | None, message: str | None) -> str:
    # Without a Twilio body the client reports the HTTP status as the code: say so plainly.
    if code is None or code == status:
        return f"Twilio answered HTTP {status}" + (f": {message}" if message else "")
    return error_codes.describe(code, message)


class TwilioSmsAdapter(BaseAdapter):
    channel = "sms"
    address_kind = "phone"

    def __init__(self, settings: SmsSettings, *, messages: TwilioMessages | None = None) -> None:
        self.settings = settings
        self.messages = messages or TwilioMessages(settings)

    def routes(self) -> Sequence[Any]:
        """Twilio's webhooks (served ahead of the console's routes) and the segment counter."""
        return [*webhooks.create_router(self.settings, self).routes, *api.router.routes]

    def sender_for(self, source: str) -> dict[str, str]:
        if source and is_messaging_service(source):
            return {"messaging_service_sid": source}
        if source:
            return {"from_": source}
        # A conversation started by an agent has no entry point yet: use the configured default.
        if self.settings.messaging_service_sid:
            return {"messaging_service_sid": self.settings.messaging_service_sid}
        if self.settings.numbers:
            return {"from_": self.settings.numbers[0]}
        raise PermanentError("no Twilio number or Messaging Service to send from (set HUB_TWILIO__NUMBERS)")

    async def send(self, message: Outbound) -> SendResult:
        if not isinstance(message, OutboundMessage):
            raise PermanentError("SMS cannot place calls")
        if not message.to:
            raise PermanentError("the contact has no phone number to text")
        sender = self.sender_for(message.source)
        try:
            created: CreatedMessage = await asyncio.to_thread(
                self.messages.create,
                to=message.to,
                body=message.text,
                media_urls=[a.url for a in message.attachments if a.url],
                status_callback=self.settings.status_callback_url,
                **sender,
            )
        except TwilioRestException as exc:
            raise await self._refusal(message, exc.status, exc.code, _twilio_words(exc.msg)) from exc
        except TwilioServiceException as exc:
            raise await self._refusal(message, exc.status, exc.code, exc.detail or exc.title) from exc
        except OSError as exc:
            # requests' errors (refused, reset, timeout) are OSErrors. A timeout may hide a message
            # Twilio did create; the Messages API takes no idempotency key, so a retry can duplicate.
            raise TransientError(f"Twilio unreachable: {exc.__class__.__name__}: {exc}") from exc
        return SendResult(provider_id=created.sid, status=hub_status(created.status) or "queued")

    async def _refusal(self, message: OutboundMessage, status: int, code: int | None,
                       words: str | None) -> TransientError | PermanentError:
        reason = _reason(status, code, words)
        if status == 429 or status >= 500:
            return TransientError(reason)
        if code == error_codes.UNSUBSCRIBED:
            # Twilio knows the customer texted STOP (perhaps before we did): remember it.
            await self._mark_opted_out(message.to)
        return PermanentError(reason)

    async def _mark_opted_out(self, phone: str) -> None:
        if self.port is None:
            logger.warning("the SMS channel is stopped: Twilio's opt-out of %s is not recorded", phone)
            return
        try:
            keyword = f"twilio:{error_codes.UNSUBSCRIBED}"
            await self.port.set_opt_out_async(self.channel, phone, True, keyword)
        except Exception:
            logger.exception("could not record the opt-out of %s reported by Twilio", phone)
