"""Header values as people and threading read them: decoded words, addresses, Message-IDs.

Every function reads the header as stored (`Message.raw_items`), never through the stdlib's
header objects: those raise or drop text on the malformed headers real mail carries (an encoded
word in an unknown charset, 8-bit bytes where only ASCII may be, an address list with a stray
quote). Nothing here raises on bad input; it returns what could be read.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping
from dataclasses import dataclass
from email.header import decode_header
from email.message import Message
from email.utils import getaddresses

from email_validator import SPECIAL_USE_DOMAIN_NAMES, EmailNotValidError, validate_email
from email_validator.rfc_constants import CASE_INSENSITIVE_MAILBOX_NAMES

from channels.email.charsets import decode_bytes, one_line

# Longer ids are not ids a mail client minted (RFC 5322 lines are at most 998 characters); a key
# that long would not fit the thread-key index either.
MAX_MESSAGE_ID = 250
MAX_REFERENCES = 50  # a thread's first and last ids are the useful ones; keep both ends
MAX_NAME = 200
_ID = re.compile(rf"<([^<>\s]{{1,{MAX_MESSAGE_ID}}})>")
# The common shape of an address, which email-validator (~0.1 ms an address) would accept as
# written but for the domain's case (and RFC 2142's role names, support@ or postmaster@, which it
# writes in lower case): a dot-atom of letters, digits and .+_- before the @; after
# it, dotted labels of letters, digits and inner hyphens (no "--": IDNA's mark) and a top-level
# name of letters. test_headers.py checks the claim against email-validator itself.
_PLAIN_ADDRESS = re.compile(
    r"[A-Za-z0-9+_-]+(?:\.[A-Za-z0-9+_-]+)*@((?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+([A-Za-z]{2,63}))")
_RESERVED = frozenset(SPECIAL_USE_DOMAIN_NAMES)
_ROLES = frozenset(CASE_INSENSITIVE_MAILBOX_NAMES)

# A message's headers by lower-case name, values as stored, in order: read once per message.
Headers = Mapping[str, list[str]]


@dataclass(frozen=True)
class Address:
    email: str  # as validated (the domain in lower case, IDN in Unicode)
    name: str | None = None


def header_map(msg: Message) -> Headers:
    out: dict[str, list[str]] = {}
    for k, v in msg.raw_items():
        out.setdefault(k.lower(), []).append(str(v))
    return out


def raw_values(msg: Message | Headers, name: str) -> list[str]:
    """Every value of header `name` as stored (8-bit bytes kept as surrogate escapes)."""
    wanted = name.lower()
    if not isinstance(msg, Message):
        return list(msg.get(wanted, ()))
    return [str(v) for k, v in msg.raw_items() if k.lower() == wanted]


def decode_words(raw: str) -> str:
    """A header's text: RFC 2047 encoded words decoded, raw 8-bit bytes read as UTF-8 or
    Windows-1252, on one line with no control characters."""
    raw = _bytes_read(re.sub(r"\r?\n[ \t]", " ", raw))
    try:
        chunks = decode_header(raw)
    except Exception:  # a malformed encoded word the stdlib chokes on: show it as written
        return one_line(raw)
    out = []
    for chunk, charset in chunks:
        out.append(decode_bytes(chunk, charset)[0] if isinstance(chunk, bytes) else chunk)
    return one_line("".join(out))


def text_header(msg: Message | Headers, name: str) -> str | None:
    values = raw_values(msg, name)
    return decode_words(values[0]) if values else None


def addresses(msg: Message | Headers, name: str) -> tuple[Address, ...]:
    """Valid addresses of every `name` header, in order, without repeats; invalid ones dropped."""
    found: dict[str, Address] = {}
    for raw in raw_values(msg, name):
        # Short values cached: our own mailbox's address is in nearly every To, and a customer
        # writes from the same From again. Long ones would only fill the cache.
        for address in (_cached_addresses_in(raw) if len(raw) <= 300 else _addresses_in(raw)):
            found.setdefault(address.email.lower(), address)
    return tuple(found.values())


def _addresses_in(raw: str) -> tuple[Address, ...]:
    """One header's valid addresses, in order, without repeats."""
    found: dict[str, Address] = {}
    unfolded = _bytes_read(re.sub(r"\r?\n[ \t]", " ", raw))
    for display, addr in getaddresses([unfolded]):
        email = valid_address(addr)
        if email and email.lower() not in found:
            name_text = decode_words(display)[:MAX_NAME] if display else ""
            found[email.lower()] = Address(email, name_text or None)
    return tuple(found.values())


_cached_addresses_in = functools.lru_cache(maxsize=4096)(_addresses_in)


def valid_address(addr: str) -> str | None:
    """`addr` normalized if it is a syntactically valid address (no DNS lookups), else None."""
    addr = addr.strip()
    if not addr or len(addr) > 254 or any(c in addr for c in "\r\n\x00<>,;"):
        return None
    plain = _PLAIN_ADDRESS.fullmatch(addr)
    if plain is not None and "--" not in plain[1] and addr.index("@") <= 64 and plain[2].lower() not in _RESERVED:
        local = addr[: plain.start(1) - 1]
        return f"{local.lower() if local.lower() in _ROLES else local}@{plain[1].lower()}"
    try:
        return validate_email(addr, check_deliverability=False).normalized
    except EmailNotValidError:
        return None


def message_ids(msg: Message | Headers, name: str) -> tuple[str, ...]:
    """The `<id>`s in every `name` header, in order, without repeats."""
    ids: dict[str, None] = {}
    for raw in raw_values(msg, name):
        for found in _ID.findall(raw):
            if not _has_8bit(found):
                ids.setdefault(f"<{found}>")
    out = tuple(ids)
    if len(out) > MAX_REFERENCES:
        out = out[:1] + out[-(MAX_REFERENCES - 1):]
    return out


def message_id(msg: Message | Headers) -> str | None:
    """The message's own `<id>`; a bare `id@host` without brackets is accepted too."""
    ids = message_ids(msg, "message-id")
    if ids:
        return ids[0]
    for raw in raw_values(msg, "message-id"):
        bare = raw.strip()
        if bare and "@" in bare and len(bare) <= MAX_MESSAGE_ID and not re.search(r"[\s<>]", bare) \
                and not _has_8bit(bare):
            return f"<{bare}>"
    return None


def _bytes_read(value: str) -> str:
    """`value` with raw 8-bit bytes (kept by the parser as surrogate escapes) read as UTF-8, else
    Windows-1252."""
    if not _SURROGATES.search(value):
        return value
    return decode_bytes(value.encode("utf-8", "surrogateescape"), None)[0]


_SURROGATES = re.compile("[\udc80-\udcff]")


def _has_8bit(text: str) -> bool:
    return not text.isascii()
