"""A parsed mail in the port's terms: an `InboundMessage`, or a `RawPayload` to keep for an admin."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from typing import Any, Protocol

from channels.email import tokens
from channels.email.classify import HUMAN, Classification
from channels.email.folding import fold
from channels.email.parsing import ParsedEmail
from channels.email.sender_auth import check_sender, guarded
from channels.email.settings import Mailbox
from hub.ports import (
    Attachment,
    ContactRef,
    Cursor,
    DeliveryUpdate,
    FileToKeep,
    InboundMessage,
    IngestResult,
    RawPayload,
    RejectedMessage,
)


class EmailPort(Protocol):
    """What the email channel uses of `hub.ports.HubPort`."""

    async def ingest_async(self, message: InboundMessage) -> IngestResult: ...

    async def keep_raw_async(self, payload: RawPayload) -> Any: ...

    async def cursor_async(self, name: str) -> str | None: ...

    async def set_cursor_async(self, cursor: Cursor) -> None: ...

    async def keep_files_async(self, files: Sequence[FileToKeep], *,
                               settle: bool = True) -> list[Attachment | RejectedMessage]: ...

    async def settle_files_async(self, files: Sequence[Attachment]) -> None: ...

    def apply_delivery_update(self, update: DeliveryUpdate) -> bool: ...

logger = logging.getLogger(__name__)
CHANNEL = "email"
CONTENT_TYPE = "message/rfc822"


def ingest_scope(mailbox: Mailbox) -> str:
    """Each mailbox keeps its own copy of a mail sent to two of them (a customer writing to sales
    and support gets two conversations); a mail seen twice by one mailbox (relayed and fetched,
    or fetched again after a UIDVALIDITY change) is one message."""
    return f"email:{mailbox.address}"


def thread_keys(parsed: ParsedEmail) -> tuple[tuple[str, ...], tuple[str, ...], tuple[str, ...]]:
    """(strong, weak, own) keys: the reply token, In-Reply-To, References newest first; the
    subject token; the mail's own Message-ID."""
    strong: list[str] = []
    if parsed.reply_token:
        strong.append(tokens.token_key(parsed.reply_token))
    strong.extend(parsed.in_reply_to)
    strong.extend(reversed(parsed.references))
    own = (parsed.message_id,) if parsed.message_id else ()
    strong = [k for k in dict.fromkeys(strong) if k not in own]
    weak = (tokens.token_key(parsed.subject_token),) if parsed.subject_token else ()
    return tuple(strong), weak, own


def to_inbound(parsed: ParsedEmail, classification: Classification, mailbox: Mailbox, raw: bytes, *,
               cursor: Cursor | None = None) -> InboundMessage:
    assert parsed.sender is not None and parsed.failure is None
    strong, weak, own = thread_keys(parsed)
    bounced = classification.bounce.original_message_id if classification.bounce else None
    if bounced and bounced not in strong:  # a report names our mail only inside: shown where that mail is
        strong = (*strong, bounced)
    folded = fold(parsed.text, (mailbox.language, "en"))
    meta: dict[str, Any] = {
        "message_id": parsed.message_id,
        "from": _address(parsed.sender),
        "to": [_address(a) for a in parsed.to],
        "cc": [_address(a) for a in parsed.cc],
        "reply_to": [_address(a) for a in parsed.reply_to],
        "date": parsed.date.isoformat() if parsed.date else None,
        "in_reply_to": list(parsed.in_reply_to),
        "references": list(parsed.references),
        **classification.as_metadata(),
        # The new words of the reply, shown first; `text` keeps everything.
        "visible_text": folded.visible if folded.folded else None,
        "repairs": list(parsed.repairs),
        "inline": {p.content_id: p.filename for p in parsed.parts if p.content_id},
    }
    message = InboundMessage(
        channel=CHANNEL,
        source=mailbox.address,
        ingest_scope=ingest_scope(mailbox),
        external_id=parsed.external_id,
        contact=ContactRef(email=parsed.sender.email, name=parsed.sender.name),
        text=parsed.text,
        html=parsed.html,
        subject=parsed.subject,
        # Their facts; `files.with_files` keeps them (and the raw message) before ingest.
        attachments=tuple(Attachment(None, p.content_type, p.filename, p.size) for p in parsed.parts),
        received_at=None,
        thread_keys=strong,
        weak_thread_keys=weak,
        own_thread_keys=own,
        cursor=cursor,
        metadata={"email": {k: v for k, v in meta.items() if v not in (None, [], {})}},
        raw=raw,
        raw_content_type=CONTENT_TYPE,
        # Auto-replies, list mail and bounces are shown, never work (and never answered: no loops).
        needs_answer=classification.kind == HUMAN,
    )
    # A From its server could not prove is held apart from the customer it names (sender_auth).
    return guarded(message, check_sender(parsed.message, mailbox.authserv_id, parsed.sender.email))


def to_raw(mailbox: Mailbox | None, raw: bytes, reason: str, external_id: str | None) -> RawPayload:
    return RawPayload(channel=CHANNEL, source=mailbox.address if mailbox else "", reason=reason[:500],
                      payload=raw, content_type=CONTENT_TYPE, external_id=external_id)


def _address(a: Any) -> dict[str, str]:
    return {"email": a.email, "name": a.name} if a.name else {"email": a.email}


async def report_bounce(port: EmailPort, message: InboundMessage, ours: tuple[str, ...]) -> bool:
    """A stored bounce of one of our mails (its Message-ID on one of our mailboxes' domains, the
    provider id our send returned) marks that reply not delivered, with the receiving server's
    words, led by the recipient they are about when they do not name it (a reply with copies can
    bounce for one copy only). A delay report ("still trying") changes nothing."""
    bounce = message.metadata.get("email", {}).get("bounce") or {}
    original = str(bounce.get("original_message_id") or "")
    domain = original.rpartition("@")[2].rstrip(">").lower()
    if not original or not bounce.get("permanent", True) or domain not in {a.rpartition("@")[2] for a in ours}:
        return False
    reason, recipient = str(bounce.get("reason") or ""), str(bounce.get("recipient") or "")
    if recipient and recipient.lower() not in reason.lower():  # as smtp_out words a refused recipient
        reason = f"{recipient}: {reason}" if reason else recipient
    update = DeliveryUpdate(channel=CHANNEL, provider_id=original, status="undelivered",
                            error_message=reason or None)
    try:
        return await asyncio.to_thread(port.apply_delivery_update, update)
    except Exception:  # the bounce itself is stored; its mark is lost, not the mailbox's progress
        logger.exception("could not mark %s as not delivered after its bounce", original)
        return False
