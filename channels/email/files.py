"""An email's files kept by the hub: each part (with its Content-ID, so `cid:` pictures show) and
the whole message as received (`message/rfc822`), which agents can always download.

Their bytes are kept before ingest (`port.keep_files_async`, by content, all in one call: one thread
hand-off and one fsync per folder for the mail, bench/RESULTS.md "Issue 15, session 11"); their rows
are written by ingest, in the message's own transaction (no write of their own per file: that
cost more than the message itself, bench/RESULTS.md "Issue 15, session 10"). A crash in between
leaves bytes nobody names, never a message without its source. A part the hub refuses (over its
limit, or a hub that keeps no files) is left out with its facts (name, type, size) and a repair
note; so is the raw message. Any other failure raises: the mail is fetched or relayed again.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import replace

from channels.email.bodies import Part
from channels.email.inbound import EmailPort
from hub.ports import Attachment, AttachmentTooLarge, FileToKeep, InboundMessage, RejectedMessage

RAW_FILENAME = "original.eml"
RAW_CONTENT_TYPE = "message/rfc822"


async def with_files(port: EmailPort, message: InboundMessage, parts: Sequence[Part], *,
                     settle: bool = True) -> InboundMessage:
    """`message` with its parts and raw bytes kept through `port.keep_files_async`: `attachments`
    are the kept files (the hub gives them ids and URLs when it stores the message), the original
    last, `metadata.email.original` its place among them. `settle=False`: durable once
    `port.settle_files_async(message.attachments)` returned (`ingested_settled`)."""
    email = dict(message.metadata.get("email", {}))
    repairs = list(email.get("repairs", []))
    wanted = [FileToKeep(p.content, p.content_type, p.filename, p.content_id) for p in parts]
    if message.raw is not None:  # we know what it is: the hub need not read its type from it
        wanted.append(FileToKeep(message.raw, RAW_CONTENT_TYPE, RAW_FILENAME, whole_message=True))
    kept = await port.keep_files_async(wanted, settle=settle) if wanted else []
    files: list[Attachment] = []
    for part, got in zip(parts, kept, strict=False):
        if isinstance(got, RejectedMessage):  # over the hub's limit, or a hub that keeps no files
            files.append(Attachment(None, part.content_type, part.filename, part.size, part.content_id))
            repairs.append(f"{part.filename}: not kept ({_why(got)})")
        else:
            files.append(got)
    if message.raw is not None:
        original = kept[-1]
        if isinstance(original, RejectedMessage):
            repairs.append(f"the original message is not kept ({_why(original)})")
        else:
            email["original"] = len(files)
            files.append(original)
    if repairs:
        email["repairs"] = repairs
    return replace(message, attachments=tuple(files), metadata={**message.metadata, "email": email})


async def ingest_settled(port: EmailPort, message: InboundMessage) -> None:
    """Ingest a message whose files `with_files(settle=False)` kept, and settle those files
    meanwhile: the folders' fsyncs run beside the write instead of before it (a fifth of the
    listener's throughput, bench/RESULTS.md "Issue 15, session 12"). Returns once both are done;
    raises ingest's error first (a `RejectedMessage` is for good), else the settling's. A message
    written but whose files could not be settled is not acknowledged: its redelivery keeps the
    files again (whole under their keys, or written anew) and finds the message stored. Only for
    an acknowledgement that comes after the write (the listener's 250): IMAP's is its cursor, which
    commits with the message, so its files are settled before (`with_files` as it is)."""
    ingested, settled = await asyncio.gather(port.ingest_async(message), port.settle_files_async(message.attachments),
                                             return_exceptions=True)
    for outcome in (ingested, settled):
        if isinstance(outcome, BaseException):
            raise outcome


def _why(exc: RejectedMessage) -> str:
    return f"over the limit of {exc.max_bytes} bytes" if isinstance(exc, AttachmentTooLarge) else str(exc)
