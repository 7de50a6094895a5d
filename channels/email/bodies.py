"""A message's MIME tree walked into what a reader gets: the text, the HTML, and the files.

Inline `text/plain` and `text/html` parts are the body (Apple Mail splits one body around inline
pictures: the pieces are joined in order); everything else is an attachment: files, inline `cid:`
images, calendar invites, a forwarded message (message/rfc822, kept whole as an .eml, never
mistaken for the customer's own words), delivery reports. Parts are decoded with the charset
fallbacks of `charsets`; what had to be repaired is reported, nothing raises.
"""

from __future__ import annotations

import html as htmllib
import mimetypes
import re
from dataclasses import dataclass, field
from email.message import Message

import nh3

from channels.email.charsets import clean_text, decode_bytes, one_line
from channels.email.headers import decode_words, raw_values

MAX_DEPTH = 20  # nested multiparts deeper than this are not mail, they are an attack on the parser
MAX_PARTS = 500
MAX_FILENAME = 200


@dataclass(frozen=True)
class Part:
    """An attachment or inline part, with its decoded content."""

    content: bytes
    content_type: str
    filename: str
    content_id: str | None = None  # without brackets: what `cid:` URLs in the HTML name
    inline: bool = False

    @property
    def size(self) -> int:
        return len(self.content)


@dataclass
class Bodies:
    texts: list[str] = field(default_factory=list)
    htmls: list[str] = field(default_factory=list)
    parts: list[Part] = field(default_factory=list)
    repairs: list[str] = field(default_factory=list)

    @property
    def text(self) -> str:
        if self.texts:
            return "\n".join(t.strip("\n") for t in self.texts).strip()
        return html_to_text("\n".join(self.htmls)) if self.htmls else ""

    @property
    def html(self) -> str | None:
        return "\n".join(self.htmls) if self.htmls else None


def walk(msg: Message) -> Bodies:
    out = Bodies()
    _walk(msg, out, 0)
    return out


def _walk(part: Message, out: Bodies, depth: int) -> None:
    if depth > MAX_DEPTH or len(out.parts) + len(out.texts) + len(out.htmls) >= MAX_PARTS:
        out.repairs.append("MIME parts beyond the limits ignored")
        return
    # Read once: with policy.default every get_content_* call parses the header again (it was a
    # quarter of the listener's parsing time, bench.email_listener).
    ctype = part.get_content_type()
    maintype, _, subtype = ctype.partition("/")
    if maintype == "multipart":
        payload = part.get_payload()
        if isinstance(payload, list):
            for sub in payload:
                if isinstance(sub, Message):
                    _walk(sub, out, depth + 1)
        else:  # declared multipart but no boundary found: keep what is there as text
            out.repairs.append("broken multipart: its boundary was never found")
            _text_part(part, out, "plain", maintype)
        return
    disposition = (part.get_content_disposition() or "").lower()
    filename = _filename_of(part)
    if maintype == "text" and disposition != "attachment" and subtype in ("plain", "html") and not filename:
        _text_part(part, out, subtype, maintype)
        return
    content = _content(part, out, maintype)
    content_id = _content_id(part)
    out.parts.append(Part(
        content=content,
        content_type=ctype,
        filename=filename or _default_name(part, ctype, len(out.parts) + 1),
        content_id=content_id,
        inline=disposition == "inline" or (disposition == "" and content_id is not None),
    ))


def _text_part(part: Message, out: Bodies, subtype: str, maintype: str) -> None:
    data = _content(part, out, maintype)
    text, repairs = decode_bytes(data, part.get_content_charset())
    text, cleaned = clean_text(text)
    out.repairs.extend(f"{r} ({subtype} body)" for r in repairs + cleaned)
    (out.htmls if subtype == "html" else out.texts).append(text)


def _content(part: Message, out: Bodies, maintype: str) -> bytes:
    """The part's bytes with its transfer encoding undone (broken base64 decoded as far as it goes)."""
    if maintype == "message" or part.is_multipart():
        # message/rfc822 (a forward, a bounce's original): the embedded message, as it was sent.
        inner = part.get_payload()
        if isinstance(inner, list):
            return b"".join(_as_bytes(m) for m in inner if isinstance(m, Message))
        return _as_bytes(part)
    try:
        data = part.get_payload(decode=True)
    except Exception:
        data = None
    if not isinstance(data, bytes):
        raw = part.get_payload()
        data = raw.encode("utf-8", "surrogateescape") if isinstance(raw, str) else b""
    if any("Base64" in type(d).__name__ for d in part.defects):
        out.repairs.append("damaged base64 decoded as far as it went")
    return data


def _as_bytes(msg: Message) -> bytes:
    try:
        return msg.as_bytes()
    except Exception:  # a part the generator cannot write back: its text as parsed
        return str(msg.get_payload()).encode("utf-8", "surrogateescape")


def _content_id(part: Message) -> str | None:
    values = raw_values(part, "content-id")
    if not values:
        return None
    cid = one_line(values[0]).strip().strip("<>").strip()
    return cid[:250] or None


def _filename_of(part: Message) -> str | None:
    try:
        name = part.get_filename()  # RFC 2231 parameters decoded
    except Exception:
        name = None
    if name:
        name = decode_words(name)  # RFC 2047 words in a filename: not standard, very common
    return safe_filename(name) if name else None


def safe_filename(name: str) -> str | None:
    """The last path component, without control characters, at most MAX_FILENAME characters.

    A sender's `C:\\Users\\ana\\Desktop\\invoice.pdf` or `../../etc/passwd` becomes `invoice.pdf`
    and `passwd`: a filename is a label, never a path on anyone's disk.
    """
    name = one_line(name.replace("\x00", ""))
    name = re.split(r"[\\/]", name)[-1].strip().lstrip(".")
    if not name:
        return None
    if len(name) > MAX_FILENAME:
        stem, dot, ext = name.rpartition(".")
        ext = ext[:20] if dot else ""
        name = (stem if dot else name)[: MAX_FILENAME - len(ext) - 1] + (f".{ext}" if ext else "")
    return name


def _default_name(part: Message, ctype: str, index: int) -> str:
    if ctype == "message/rfc822":
        inner = part.get_payload()
        subject = None
        if isinstance(inner, list) and inner and isinstance(inner[0], Message):
            subject = next(iter(raw_values(inner[0], "subject")), None)
        stem = safe_filename(decode_words(subject)) if subject else None
        return f"{(stem or 'message')[:100]}.eml"
    if ctype in _REPORT_PARTS:  # a bounce's parts: named for what they hold
        return _REPORT_PARTS[ctype]
    ext = {"text/calendar": ".ics"}.get(ctype) or mimetypes.guess_extension(ctype) or ".bin"
    return f"attachment-{index}{ext}"


_REPORT_PARTS = {"message/delivery-status": "delivery-status.txt", "text/rfc822-headers": "original-headers.txt"}


_BREAKS = re.compile(r"(?i)<\s*(br|/p|/div|/li|/tr|/h[1-6]|/blockquote)\s*/?>")


def html_to_text(html: str) -> str:
    """Readable text of an HTML-only mail (for the text column, search and folding)."""
    stripped = nh3.clean(_BREAKS.sub("\n", html), tags=set(), clean_content_tags={"script", "style", "head", "title"})
    text = htmllib.unescape(stripped).replace("\xa0", " ")
    lines = [" ".join(line.split()) for line in text.split("\n")]
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()
