"""An email's files kept by the hub: each part (with its Content-ID, so `cid:` pictures show) and
the whole message as received (`message/rfc822`), which agents can always download.

Stored before ingest (the port's store, by content): a crash in between leaves a file nobody
names, never a message without its source. A part the hub refuses (over its limit, or a hub
that keeps no files) is left out with its facts (name, type, size) and a repair note; so is the
raw message. Any other failure (the database) raises: the mail is fetched or relayed again.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from channels.email.bodies import Part
from channels.email.inbound import EmailPort
from hub.ports import Attachment, AttachmentTooLarge, InboundMessage, RejectedMessage

RAW_FILENAME = "original.eml"
RAW_CONTENT_TYPE = "message/rfc822"


async def with_files(port: EmailPort, message: InboundMessage, parts: Sequence[Part]) -> InboundMessage:
    """`message` with its parts and raw bytes stored through `port.store_attachment_async`:
    `attachments` carry the hub's ids and URLs, `metadata.email.raw_attachment` the original's id."""
    email = dict(message.metadata.get("email", {}))
    repairs = list(email.get("repairs", []))
    files: list[Attachment] = []
    for part in parts:
        try:
            files.append(await port.store_attachment_async(part.content, part.content_type, part.filename,
                                                           cid=part.content_id))
        except RejectedMessage as exc:  # over the hub's limit, or a hub that keeps no files
            files.append(Attachment(None, part.content_type, part.filename, part.size, part.content_id))
            repairs.append(f"{part.filename}: not kept ({_why(exc)})")
    if message.raw is not None:
        try:
            original = await port.store_attachment_async(message.raw, RAW_CONTENT_TYPE, RAW_FILENAME)
            files.append(original)
            email["raw_attachment"] = original.id
        except RejectedMessage as exc:
            repairs.append(f"the original message is not kept ({_why(exc)})")
    if repairs:
        email["repairs"] = repairs
    return replace(message, attachments=tuple(files), metadata={**message.metadata, "email": email})


def _why(exc: RejectedMessage) -> str:
    return f"over the limit of {exc.max_bytes} bytes" if isinstance(exc, AttachmentTooLarge) else str(exc)
