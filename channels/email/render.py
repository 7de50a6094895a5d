"""An agent's reply as a MIME message: text and HTML from templates/email, threaded, addressed.

Nothing from input reaches a header unchecked: addresses go through the validator (a CR, LF or
comma in one refuses the send), display names and subjects are put on one line first, and the
stdlib's header objects (policy.default) encode whatever is not ASCII. The Message-ID is minted
here, with the mailbox's domain; it and the reply token are what the hub records as thread keys.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from email.headerregistry import Address as HeaderAddress
from email.message import EmailMessage
from email.utils import format_datetime
from pathlib import Path

import nh3
from jinja2 import Environment, FileSystemLoader, select_autoescape
from markupsafe import Markup

from channels.email import i18n, tokens
from channels.email.charsets import one_line
from channels.email.headers import valid_address
from channels.email.settings import Mailbox

TEMPLATES_DIR = Path(__file__).resolve().parents[2] / "templates" / "email"
MAX_REFERENCES = 20  # the thread's first id and the latest ones: what clients thread on
_MESSAGE_ID = re.compile(r"<[^<>@\s]+@[^<>@\s]+>")
_env = Environment(loader=FileSystemLoader(TEMPLATES_DIR), autoescape=select_autoescape(["html"]),
                   keep_trailing_newline=True)


class BadAddress(ValueError):
    """An address that cannot go into a header: the send can never succeed as is."""


@dataclass(frozen=True)
class Quoted:
    """The message being answered, quoted under the reply."""

    when: datetime
    name: str
    text: str


@dataclass(frozen=True)
class File:
    filename: str
    content_type: str
    content: bytes


@dataclass(frozen=True)
class Reply:
    to: str
    text: str
    subject: str | None = None  # the conversation's subject: "Re: " is added here
    html: str | None = None  # the agent's own HTML, if the console sent some (sanitized again)
    agent_name: str | None = None
    cc: tuple[str, ...] = ()
    thread_keys: tuple[str, ...] = ()  # the conversation's keys, oldest first
    quoted: Quoted | None = None
    files: tuple[File, ...] = ()
    new_conversation: bool = False  # an agent writing first: no "Re:"
    seed: str | None = None  # the outbox item: a retry renders the same Message-ID and token
    message_id: str | None = None  # the one the hub stored before the first attempt, if any


@dataclass(frozen=True)
class Rendered:
    message: EmailMessage
    message_id: str
    token: str
    recipients: tuple[str, ...]  # To and CC, as validated: the SMTP envelope

    @property
    def thread_keys(self) -> tuple[str, ...]:
        return (self.message_id, tokens.token_key(self.token))


def render_reply(reply: Reply, mailbox: Mailbox, *, secret: bytes = b"", now: datetime | None = None) -> Rendered:
    now = now or datetime.now(UTC)
    lang = mailbox.language
    to = _address(reply.to, "to")
    cc = tuple(a for a in (_address(c, "cc") for c in reply.cc) if a.lower() != to.lower())
    token = tokens.token_of(reply.thread_keys) or tokens.mint(secret, reply.seed)
    ids = [k for k in reply.thread_keys if k.startswith("<") and k.endswith(">") and "\n" not in k and "\r" not in k]
    stored = reply.message_id
    message_id = stored if stored and _MESSAGE_ID.fullmatch(stored) else tokens.message_id(
        mailbox.domain, secret, reply.seed)

    msg = EmailMessage()
    msg["From"] = HeaderAddress(one_line(mailbox.display_name), addr_spec=mailbox.address)
    msg["To"] = to
    if cc:
        msg["Cc"] = ", ".join(cc)
    msg["Reply-To"] = HeaderAddress(one_line(mailbox.display_name), addr_spec=mailbox.reply_address(token))
    msg["Subject"] = _subject(reply, mailbox, token)
    msg["Date"] = format_datetime(now.astimezone(UTC))
    msg["Message-ID"] = message_id
    if ids and not reply.new_conversation:
        msg["In-Reply-To"] = ids[-1]
        kept = ids if len(ids) <= MAX_REFERENCES else ids[:1] + ids[-(MAX_REFERENCES - 1):]
        msg["References"] = " ".join(kept)
    msg["Content-Language"] = lang

    context = _context(reply, mailbox, lang)
    msg.set_content(_env.get_template("reply.txt").render(context))
    msg.add_alternative(_env.get_template("reply.html").render(context), subtype="html")
    for f in reply.files:
        maintype, _, subtype = (f.content_type or "application/octet-stream").partition("/")
        msg.add_attachment(f.content, maintype=maintype, subtype=subtype or "octet-stream",
                           filename=one_line(f.filename) or "attachment")
    return Rendered(msg, message_id, token, (to, *cc))


def _address(value: str, field: str) -> str:
    address = valid_address(value or "")
    if address is None:
        raise BadAddress(f"{field}: {one_line(value or '')[:200]!r} is not a valid email address")
    return address


def _subject(reply: Reply, mailbox: Mailbox, token: str) -> str:
    subject = one_line(reply.subject or "")
    if reply.new_conversation:
        subject = subject or i18n.t(mailbox.language, "subject.new", mailbox=one_line(mailbox.display_name)
                                    or mailbox.address)
    else:
        subject = tokens.reply_subject(subject or i18n.t(mailbox.language, "subject.default"))
    return tokens.with_subject_token(subject, token) if mailbox.subject_token else subject


def _context(reply: Reply, mailbox: Mailbox, lang: str) -> dict[str, object]:
    text = reply.text.replace("\r\n", "\n").replace("\r", "\n").strip()
    paragraphs = [p.split("\n") for p in text.split("\n\n") if p.strip()]
    quoted = None
    if reply.quoted and reply.quoted.text.strip():
        q = reply.quoted
        name = one_line(q.name) or i18n.t(lang, "reply.someone")
        lines = q.text.replace("\r\n", "\n").replace("\r", "\n").strip().split("\n")
        quoted = {"header": i18n.wrote(lang, q.when.astimezone(UTC), name), "lines": lines}
    signature = mailbox.signature.strip()
    return {
        "lang": lang,
        "text": text,
        "paragraphs": paragraphs,
        "html": Markup(nh3.clean(reply.html)) if reply.html else None,
        "agent_name": one_line(reply.agent_name or ""),
        "signature": signature,
        "signature_lines": signature.split("\n") if signature else [],
        "quoted": quoted,
    }
