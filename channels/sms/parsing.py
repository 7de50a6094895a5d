"""Twilio's webhook fields, turned into the port's normalized types."""

from __future__ import annotations

import functools
from dataclasses import dataclass

import phonenumbers

from channels.sms import error_codes
from channels.sms.keywords import Keyword, classify
from channels.sms.signatures import FormParams
from channels.sms.statuses import hub_status
from hub.ports import Attachment, ContactRef, DeliveryUpdate, InboundMessage, has_nul

INGEST_SCOPE = "twilio"
MAX_MEDIA = 10  # Twilio's own limit per message
# Twilio's SIDs are 34 characters; its inbound bodies at most 1,600. Anything far beyond is not
# Twilio, and SQLite would store what PostgreSQL refuses (hub.conversations.storable).
MAX_SID = 64
MAX_BODY = 16_000
MAX_FIELD = 2_000  # any other field we keep: numbers, media URLs and types, error texts


class BadWebhook(ValueError):
    """A signed request that still cannot be understood: answered 400, nothing stored."""


@dataclass(frozen=True)
class InboundSms:
    message: InboundMessage
    keyword: Keyword | None


def e164(raw: str | None, field: str) -> str:
    normalized = _e164(raw or "")
    if normalized is None:
        raise BadWebhook(f"{field} is not a possible phone number in E.164 form: {raw!r}")
    return normalized


@functools.lru_cache(maxsize=8192)
def _e164(raw: str) -> str | None:
    """Cached: the same few numbers (ours, and each customer's) come back on every webhook, and
    parsing one was a fourteenth of the CPU of an inbound SMS (bench/RESULTS.md)."""
    try:
        parsed = phonenumbers.parse(raw, None)
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_possible_number(parsed):
        return None
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)


def _text(params: FormParams, name: str, longest: int = MAX_FIELD) -> str | None:
    """A field as sent, refused with its name when it could not be stored (NUL, too long)."""
    value = params.get(name)
    if value is not None:
        if has_nul(value):
            raise BadWebhook(f"{name} contains a NUL character")  # Twilio's debugger shows this 400's words
        if len(value) > longest:
            raise BadWebhook(f"{name} is longer than {longest} characters")
    return value


def _required(params: FormParams, name: str, longest: int = MAX_FIELD) -> str:
    value = (_text(params, name, longest) or "").strip()
    if not value:
        raise BadWebhook(f"{name} is missing")
    return value


def _attachments(params: FormParams) -> tuple[Attachment, ...]:
    try:
        count = int(params.get("NumMedia") or 0)
    except ValueError as exc:
        raise BadWebhook("NumMedia is not a number") from exc
    out = []
    for i in range(min(max(count, 0), MAX_MEDIA)):
        url = _text(params, f"MediaUrl{i}")
        if url:
            out.append(Attachment(url=url, content_type=_text(params, f"MediaContentType{i}")))
    return tuple(out)


def inbound_sms(params: FormParams) -> InboundSms:
    """A customer's text. The source is where replies must leave from: the Messaging Service
    when the number belongs to one (Twilio then picks the sender), else the number written to."""
    sid = _required(params, "MessageSid", MAX_SID)
    phone = e164(_required(params, "From"), "From")
    to = _required(params, "To", MAX_SID)
    service = (_text(params, "MessagingServiceSid", MAX_SID) or "").strip()
    try:
        source = service or e164(to, "To")
    except BadWebhook:
        source = to  # a short code is not E.164, yet it is where the customer wrote
    body = _text(params, "Body", MAX_BODY) or ""
    keyword = classify(body, params.get("OptOutType"))
    message = InboundMessage(
        channel="sms",
        source=source,
        ingest_scope=INGEST_SCOPE,
        external_id=sid,
        contact=ContactRef(phone=phone, verified=frozenset({"phone"})),  # the carrier proves the sender
        text=body,
        attachments=_attachments(params),
        metadata={"to": to, "messaging_service_sid": service or None, "keyword": keyword},
    )
    return InboundSms(message, keyword)


def delivery_update(params: FormParams) -> DeliveryUpdate | None:
    """A status callback, or None when its status says nothing about an outgoing message."""
    sid = (_text(params, "MessageSid", MAX_SID) or _text(params, "SmsSid", MAX_SID) or "").strip()
    if not sid:
        raise BadWebhook("MessageSid is missing")
    status = hub_status(params.get("MessageStatus") or params.get("SmsStatus"))
    if status is None:
        return None
    code = (_text(params, "ErrorCode", 32) or "").strip() or None
    words = (_text(params, "ErrorMessage") or "").strip() or None
    return DeliveryUpdate(
        channel="sms",
        provider_id=sid,
        status=status,
        error_code=code,
        error_message=words or error_codes.meaning(code),
    )
