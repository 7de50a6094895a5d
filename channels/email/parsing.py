"""Raw mail bytes to a `ParsedEmail`: who, what, the files, the threading headers, the tokens.

`parse_email` never raises. What it had to repair (a bad charset, a NUL, a broken boundary, a
subject cut short, a missing Message-ID) is listed in `repairs`: the message is still a customer's
mail and is ingested, flagged. What it cannot make a message of (no sender address, no header
block) sets `failure`: the adapter keeps such mail raw for an admin (`RawPayload`) and moves on.
"""

from __future__ import annotations

import email
import hashlib
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from email.message import Message
from email.utils import parsedate_to_datetime

from channels.email import bodies, headers, tokens
from channels.email.bodies import Part
from channels.email.charsets import one_line
from channels.email.headers import Address, Headers
from channels.email.mime_policy import PARSE_POLICY

# The hub's subject column holds 500 characters; a subject a person reads is far shorter. The whole
# subject stays in the raw message.
MAX_SUBJECT = 300


@dataclass(frozen=True)
class ParsedEmail:
    external_id: str  # the Message-ID, or "sha256:<hex>" of the content when there is none
    message_id: str | None = None
    sender: Address | None = None
    to: tuple[Address, ...] = ()
    cc: tuple[Address, ...] = ()
    reply_to: tuple[Address, ...] = ()
    subject: str | None = None
    date: datetime | None = None
    text: str = ""
    html: str | None = None
    parts: tuple[Part, ...] = ()
    in_reply_to: tuple[str, ...] = ()
    references: tuple[str, ...] = ()
    reply_token: str | None = None  # from a recipient: support+<token>@
    subject_token: str | None = None  # from the subject: [#<token>]
    repairs: tuple[str, ...] = ()
    failure: str | None = None  # set: not a message we can ingest; keep it raw with this reason
    message: Message | None = field(default=None, repr=False, compare=False)  # for classify
    headers: Headers = field(default_factory=dict, repr=False, compare=False)  # the message's own, by name

    @property
    def attachments(self) -> tuple[Part, ...]:
        return self.parts


def parse_email(raw: bytes, *, mailbox_addresses: Iterable[str] = (),
                envelope_recipients: Iterable[str] = ()) -> ParsedEmail:
    """Parse `raw`; `mailbox_addresses` are ours (for the reply token), `envelope_recipients` the
    SMTP RCPT TO addresses when the mail came that way (a relay may have dropped it from To/CC)."""
    try:
        return _parse(raw, tuple(mailbox_addresses), tuple(envelope_recipients))
    except Exception as exc:  # the stdlib's parser on input nobody foresaw: keep the mail raw
        return ParsedEmail(external_id=content_hash(raw), failure=f"unparseable: {type(exc).__name__}: {exc}"[:500])


def _parse(raw: bytes, mailboxes: tuple[str, ...], envelope: tuple[str, ...]) -> ParsedEmail:
    if not raw.strip():
        return ParsedEmail(external_id=content_hash(raw), failure="empty message")
    msg = email.message_from_bytes(raw, policy=PARSE_POLICY)
    repairs: list[str] = []
    heads = headers.header_map(msg)  # read once: every header below is looked up by name
    if not heads:
        return ParsedEmail(external_id=content_hash(raw), failure="no header block", message=msg)
    senders = headers.addresses(heads, "from") or headers.addresses(heads, "sender")
    if not senders:
        written = one_line(" ".join(headers.raw_values(heads, "from")))[:200]
        reason = f"no valid sender address (From: {written!r})" if written else "no From header"
        return ParsedEmail(external_id=content_hash(raw), failure=reason, message=msg)
    message_id = headers.message_id(heads)
    if message_id is None:
        repairs.append("no Message-ID: identified by a hash of its content")
    subject = headers.text_header(heads, "subject")
    if subject is not None and len(subject) > MAX_SUBJECT:
        repairs.append(f"subject of {len(subject)} characters cut to {MAX_SUBJECT}")
        subject = subject[: MAX_SUBJECT - 1].rstrip() + "…"
    found = bodies.walk(msg)
    repairs.extend(found.repairs)
    repairs.extend(_structural_defects(msg))
    to, cc = headers.addresses(heads, "to"), headers.addresses(heads, "cc")
    recipients = [a.email for a in to + cc] + list(envelope) + [
        a.email for a in headers.addresses(heads, "delivered-to") + headers.addresses(heads, "x-original-to")]
    return ParsedEmail(
        external_id=message_id or content_hash(raw),
        message_id=message_id,
        sender=senders[0],
        to=to,
        cc=cc,
        reply_to=headers.addresses(heads, "reply-to"),
        subject=subject or None,
        date=_date(heads),
        text=found.text,
        html=found.html,
        parts=tuple(found.parts),
        in_reply_to=headers.message_ids(heads, "in-reply-to"),
        references=headers.message_ids(heads, "references"),
        reply_token=_reply_token(recipients, mailboxes),
        subject_token=tokens.subject_token(subject),
        repairs=tuple(dict.fromkeys(repairs)),
        message=msg,
        headers=heads,
    )


def _reply_token(recipients: Iterable[str], mailboxes: tuple[str, ...]) -> str | None:
    for address in recipients:
        for box in mailboxes:
            token = tokens.plus_token(address, box)
            if token:
                return token
    return None


def _date(heads: Headers) -> datetime | None:
    value = headers.text_header(heads, "date")
    if not value:
        return None
    try:
        parsed = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    return parsed if parsed.tzinfo else None


def _structural_defects(msg: Message) -> list[str]:
    """The stdlib parser's complaints worth an admin's eye (it repairs them as it goes)."""
    names = {type(d).__name__ for part in msg.walk() for d in part.defects}
    wanted = {
        "StartBoundaryNotFoundDefect": "broken multipart: its boundary was never found",
        "CloseBoundaryNotFoundDefect": "multipart not closed (truncated message?)",
        "MultipartInvariantViolationDefect": "broken multipart structure",
        "MissingHeaderBodySeparatorDefect": "no blank line between headers and body",
        "InvalidBase64CharactersDefect": "damaged base64 decoded as far as it went",
        "InvalidBase64PaddingDefect": "damaged base64 decoded as far as it went",
        "InvalidBase64LengthDefect": "damaged base64 decoded as far as it went",
    }
    return [wanted[n] for n in sorted(names) if n in wanted]


def content_hash(raw: bytes) -> str:
    """A stable id for mail without a Message-ID: the same mail fetched again (by IMAP after a
    UIDVALIDITY change, or relayed twice) hashes the same, although relays add their own headers
    on top. So: the body plus the headers its author wrote (From, To, Cc, Date, Subject)."""
    head, sep, body = raw.replace(b"\r\n", b"\n").partition(b"\n\n")
    wanted = (b"from", b"to", b"cc", b"date", b"subject")
    kept: list[bytes] = []
    current: bytes | None = None
    for line in head.split(b"\n"):
        if line[:1] in (b" ", b"\t") and current is not None:
            kept.append(line.strip())
            continue
        name = line.partition(b":")[0].strip().lower()
        current = name if name in wanted else None
        if current is not None:
            kept.append(line.strip())
    digest = hashlib.sha256(b"\n".join(sorted(kept)) + b"\n\n" + body.rstrip()).hexdigest()
    return f"sha256:{digest}"
