"""Bytes to text for mail that lies about its charset, or names none, or one Python lacks."""

from __future__ import annotations

import codecs
import re

# Names mail clients use that Python does not know, or knows as something narrower.
ALIASES = {
    "iso-8859-8-i": "iso-8859-8",
    "iso-8859-6-i": "iso-8859-6",
    "x-user-defined": "windows-1252",
    "ks_c_5601-1987": "cp949",
    "gb2312": "gb18030",  # senders label GBK/GB18030 text as GB2312; the superset decodes both
    "x-mac-roman": "mac-roman",
    "ansi_x3.4-1968": "ascii",
    # Latin-1 labels in practice mean Windows-1252 (the WHATWG encoding standard does the same):
    # curly quotes and the euro sign arrive in 0x80-0x9F.
    "iso-8859-1": "windows-1252",
    "latin1": "windows-1252",
    "latin-1": "windows-1252",
    "us-ascii": "ascii",
}
# Control characters that no reader needs and a database may refuse (NUL) or a terminal misreads;
# tab and newline stay.
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def codec_for(charset: str | None) -> str | None:
    """The Python codec for a MIME charset label, or None when there is none."""
    if not charset:
        return None
    label = charset.strip().strip('"').lower()
    label = ALIASES.get(label, label)
    try:
        return codecs.lookup(label).name
    except LookupError:
        return None


def decode_bytes(data: bytes, charset: str | None) -> tuple[str, list[str]]:
    """Text from `data` labelled `charset`, and what had to be repaired (empty when nothing).

    Order of trust: the declared charset when it decodes cleanly; else UTF-8 when it decodes cleanly
    (the commonest mislabel: UTF-8 sent as us-ascii or Latin-1); else UTF-8 with the bad bytes
    replaced when most of it is UTF-8; else Windows-1252, which maps (almost) every byte. A declared
    charset other than ASCII/UTF-8 that fails is decoded with replacement characters.
    """
    repairs: list[str] = []
    codec = codec_for(charset)
    if charset and codec is None:
        repairs.append(f"unknown charset {charset.strip()[:40]!r}")
    candidates = [c for c in (codec, "utf-8") if c]
    for name in dict.fromkeys(candidates):
        try:
            text = data.decode(name)
        except (UnicodeDecodeError, LookupError):
            continue
        if codec and name != codec:
            repairs.append(f"text declared {charset!s:.40} was UTF-8")
        return text, repairs
    if codec and codecs.lookup(codec).name not in ("ascii", "utf-8"):
        # A declared charset other than ASCII/UTF-8 that fails (say Shift_JIS with a bad byte):
        # keep its decoding, mark the bad bytes.
        repairs.append(f"invalid {charset!s:.40} bytes replaced")
        return data.decode(codec, errors="replace"), repairs
    lenient = data.decode("utf-8", errors="replace")
    bad = lenient.count("\ufffd")
    good = sum(1 for c in lenient if ord(c) > 127) - bad
    # One valid multi-byte sequence is strong evidence: Latin-1 text almost never forms one by chance.
    if good > 0:  # UTF-8 with some bad bytes: mark those, keep the rest readable
        repairs.append("invalid UTF-8 bytes replaced")
        return lenient, repairs
    repairs.append("not UTF-8; decoded as Windows-1252")
    return data.decode("windows-1252", errors="replace"), repairs


def clean_text(text: str) -> tuple[str, list[str]]:
    """`text` with NUL and other control characters removed and line ends made `\\n`."""
    repairs = []
    if "\x00" in text:
        repairs.append("NUL characters removed")
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    return _CONTROL.sub("", text), repairs


def one_line(text: str) -> str:
    """A header's text for one line: no control characters at all (CR/LF/TAB become spaces)."""
    return " ".join(_CONTROL.sub("", text.replace("\r", " ").replace("\n", " ").replace("\t", " ")).split())
