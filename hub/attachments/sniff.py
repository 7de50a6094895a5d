"""An attachment's content type, read from its bytes, never believed from its name or its sender.

A customer's mail client or browser declares a type; a hostile one declares `image/png` for an
HTML page. The bytes decide (puremagic: a maintained, pure-Python magic-number table with several
hundred formats; no libmagic to install). What the bytes are, when recognised, is the type: a
declared type is kept only when the bytes fit it too (an .xlsx and a .docx have the same ZIP
magic). Unrecognised bytes keep a declared type only if it is not one we could have recognised
(pictures, PDF) nor one a browser renders as a document (HTML, SVG, XML, scripts): those become
`text/plain` for text and `application/octet-stream` otherwise.

Only png, jpeg, gif and webp are ever served inline (`INLINE_SERVED`); everything else, SVG and
HTML above all, is downloaded (agents_ui/api/attachments.py).
"""

from __future__ import annotations

import re

import puremagic

# Enough of the head for every magic number we rely on (ZIP-based formats look a little further).
HEAD_BYTES = 8192
OCTET_STREAM = "application/octet-stream"
WHOLE_MESSAGE = "message/rfc822"  # a message as a channel received it, kept without sniffing
# Served with `Content-Disposition: inline` (raster pictures with no script or external reference).
INLINE_SERVED = frozenset({"image/png", "image/jpeg", "image/gif", "image/webp"})
_TYPE = re.compile(r"[a-z0-9][a-z0-9!#$&^_.+-]{0,126}/[a-z0-9][a-z0-9!#$&^_.+-]{0,126}")
# Declared types we never take on trust: formats whose magic we know (so unrecognised bytes are
# not one), and documents a browser would render.
_DOCUMENT_TYPES = frozenset({"text/html", "application/xhtml+xml", "image/svg+xml", "text/xml", "application/xml",
                             "text/javascript", "application/javascript", "application/pdf"})


# Declared types whose magic number settles it: bytes that start with one are that type among
# whatever else puremagic finds, so `sniff` keeps the declared type without asking it (half a
# millisecond a file: it walks its whole table).
_CONFIRMED_BY: dict[str, tuple[bytes, ...]] = {
    "application/pdf": (b"%PDF",), "image/png": (b"\x89PNG\r\n\x1a\n",), "image/jpeg": (b"\xff\xd8\xff",),
    "image/gif": (b"GIF87a", b"GIF89a")}


def declared_type(value: str | None) -> str | None:
    """A declared Content-Type reduced to `type/subtype` in lower case, or None if it is not one."""
    ctype = (value or "").partition(";")[0].strip().lower()
    return ctype if _TYPE.fullmatch(ctype) else None


def sniff(head: bytes, declared: str | None = None, filename: str | None = None) -> str:
    """The content type of a file whose first bytes are `head` (HEAD_BYTES of them suffice).

    `filename` only breaks ties between formats whose bytes look alike (.docx and .xlsx)."""
    claimed = declared_type(declared)
    if claimed in _CONFIRMED_BY and head.startswith(_CONFIRMED_BY[claimed]):
        return claimed
    found = _recognised(head[:HEAD_BYTES], filename)
    if found:
        return claimed if claimed in found else found[0]
    if claimed and not claimed.startswith(("image/", "audio/", "video/")) and claimed not in _DOCUMENT_TYPES:
        return claimed
    return "text/plain" if _looks_like_text(head) else OCTET_STREAM


def _recognised(head: bytes, filename: str | None) -> list[str]:
    """The types the bytes fit, most likely first (empty when puremagic knows none)."""
    if not head:
        return []
    hint = filename if filename and "." in filename and "/" not in filename and "\\" not in filename else None
    try:
        matches = puremagic.magic_string(head, hint)
    except (puremagic.PureError, ValueError):
        return []
    return list(dict.fromkeys(m.mime_type.lower() for m in matches if m.mime_type))


def _looks_like_text(head: bytes) -> bool:
    if not head or b"\x00" in head:
        return False
    try:
        head.decode("utf-8")
    except UnicodeDecodeError as exc:
        return exc.start >= len(head) - 3  # a character cut off at the end of the head
    return True
