"""Is this mail a person writing, or a machine? And if it is a bounce, of which of our mails?

Kinds: "human", "auto_reply" (out-of-office, vacation, read receipts, any RFC 3834 auto-submitted
mail), "bulk" (list mail, newsletters: Precedence bulk/junk/list, List-Id, List-Unsubscribe) and
"bounce" (a delivery status report, or a mailer-daemon's message). Only "human" mail is new work;
none of the others may ever be answered automatically (mail loops).
"""

from __future__ import annotations

import email
import re
from dataclasses import dataclass
from email.message import Message

from channels.email.charsets import one_line
from channels.email.headers import Headers, header_map, message_id, message_ids, raw_values
from channels.email.mime_policy import PARSE_POLICY
from channels.email.parsing import ParsedEmail

HUMAN, AUTO_REPLY, BULK, BOUNCE = "human", "auto_reply", "bulk", "bounce"
MAX_REASON = 500
_DAEMONS = re.compile(r"^(mailer-daemon|postmaster|mail-daemon|mailerdaemon)(\+.*)?@", re.IGNORECASE)
_BODY_ID = re.compile(r"^\s*Message-ID:\s*(<[^<>\s]{1,250}>)", re.IGNORECASE | re.MULTILINE)


@dataclass(frozen=True)
class Bounce:
    original_message_id: str | None  # our mail that did not arrive, when the report names it
    # The receiving server's words, e.g. "550 5.1.1 <ana@example.com>: User unknown"; None when it
    # gave none (never words of ours: the console shows these to agents in every language).
    reason: str | None
    recipient: str | None = None
    permanent: bool = True  # False for "delayed": the server is still trying


@dataclass(frozen=True)
class Classification:
    kind: str
    why: str = ""  # the header or sign that decided it, for the admin who wonders
    bounce: Bounce | None = None

    def as_metadata(self) -> dict[str, object]:
        out: dict[str, object] = {"kind": self.kind}
        if self.why:
            out["why"] = self.why
        if self.bounce:
            out["bounce"] = {k: v for k, v in self.bounce.__dict__.items() if v is not None}
        return out


def classify(parsed: ParsedEmail) -> Classification:
    msg = parsed.message
    if msg is None:
        return Classification(HUMAN)
    heads = parsed.headers or header_map(msg)
    report = _delivery_report(msg, heads)
    if report is not None:
        return Classification(BOUNCE, "multipart/report delivery-status", report)
    if msg.get_content_type() == "multipart/report" and "disposition-notification" in _report_type(msg):
        return Classification(AUTO_REPLY, "read receipt (disposition-notification)")
    sender = parsed.sender.email if parsed.sender else ""
    if _DAEMONS.match(sender) or (_null_return_path(heads) and _looks_like_bounce(parsed)):
        return Classification(BOUNCE, f"sent by {sender}", _text_bounce(parsed))
    auto = _first(heads, "auto-submitted")
    if auto and auto.lower().split(";")[0].strip() != "no":
        return Classification(AUTO_REPLY, f"Auto-Submitted: {auto}")
    for name in ("x-autoreply", "x-autorespond", "x-autoresponder"):
        if _first(heads, name) is not None:
            return Classification(AUTO_REPLY, name)
    suppress = (_first(heads, "x-auto-response-suppress") or "").lower()
    if "oof" in suppress or "autoreply" in suppress:  # Exchange marks its out-of-office replies
        return Classification(AUTO_REPLY, f"X-Auto-Response-Suppress: {suppress}")
    precedence = (_first(heads, "precedence") or "").lower()
    if precedence == "auto_reply":
        return Classification(AUTO_REPLY, "Precedence: auto_reply")
    if precedence in ("bulk", "junk", "list"):
        return Classification(BULK, f"Precedence: {precedence}")
    for name in ("list-id", "list-unsubscribe"):
        if _first(heads, name) is not None:
            return Classification(BULK, name)
    return Classification(HUMAN)


def _first(msg: Message | Headers, name: str) -> str | None:
    values = raw_values(msg, name)
    return one_line(values[0]) if values else None


def _report_type(msg: Message) -> str:
    return str(msg.get_param("report-type", "") or "").lower()


def _delivery_report(msg: Message, heads: Headers) -> Bounce | None:
    """The first failed (else delayed) recipient of an RFC 3464 delivery-status report."""
    report = next((p for p in msg.walk() if p.get_content_type() == "multipart/report"
                   and _report_type(p) == "delivery-status"), None)
    if report is None:
        return None
    blocks: list[Message] = []
    original: str | None = None
    for part in report.walk():
        ctype = part.get_content_type()
        if ctype in ("message/delivery-status", "message/global-delivery-status"):
            payload = part.get_payload()
            if isinstance(payload, list):  # the stdlib parses each block of fields as a Message
                blocks.extend(m for m in payload if isinstance(m, Message))
        elif ctype in ("message/rfc822", "text/rfc822-headers", "message/global", "message/global-headers") \
                and original is None:
            original = _original_id(part)
    recipients = [b for b in blocks if _first(b, "action")]
    failed = [b for b in recipients if (_first(b, "action") or "").lower() == "failed"]
    chosen = next(iter(failed or recipients), None)
    if original is None:  # some servers only thread the report itself to our mail
        ids = message_ids(heads, "in-reply-to") or message_ids(heads, "references")
        original = ids[-1] if ids else None
    if chosen is None:
        return Bounce(original, None)
    status = _first(chosen, "status") or ""
    diagnostic = _first(chosen, "diagnostic-code") or ""
    reason = re.sub(r"^\s*(smtp|x-[\w-]+)\s*;\s*", "", diagnostic, flags=re.IGNORECASE) or status or None
    written = _first(chosen, "final-recipient") or _first(chosen, "original-recipient") or ""
    recipient = re.sub(r"^\s*rfc822\s*;\s*", "", written, flags=re.IGNORECASE) or None
    return Bounce(original, reason[:MAX_REASON] if reason else None, recipient,
                  permanent=(_first(chosen, "action") or "failed").lower() == "failed")


def _original_id(part: Message) -> str | None:
    payload = part.get_payload()
    if isinstance(payload, list) and payload and isinstance(payload[0], Message):
        return message_id(payload[0])
    if isinstance(payload, str):  # text/rfc822-headers: the headers as text
        return message_id(email.message_from_string(payload.lstrip(), policy=PARSE_POLICY))
    return None


def _null_return_path(heads: Headers) -> bool:
    return any(v.strip() in ("<>", "") for v in raw_values(heads, "return-path"))


def _looks_like_bounce(parsed: ParsedEmail) -> bool:
    head = ((parsed.subject or "") + " " + parsed.text[:2000]).lower()
    return any(w in head for w in ("undeliver", "delivery status", "delivery failure", "returned mail",
                                   "could not be delivered", "failure notice", "mail delivery failed"))


def _text_bounce(parsed: ParsedEmail) -> Bounce:
    """A bounce without a report (qmail, old Exim): the id from the quoted original, the reason
    from the first lines that name an SMTP status."""
    found = _BODY_ID.findall(parsed.text)
    ids = [i for i in found if i != parsed.message_id]
    reason_line = next((line.strip() for line in parsed.text.splitlines()
                        if re.search(r"\b[45]\d\d\b|\b[45]\.\d{1,3}\.\d{1,3}\b", line)), "")
    reason = reason_line or parsed.subject
    original = ids[0] if ids else (parsed.in_reply_to or parsed.references or (None,))[-1]
    return Bounce(original, one_line(reason)[:MAX_REASON] if reason else None)
