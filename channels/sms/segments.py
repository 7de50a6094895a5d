"""How many SMS segments a text takes, so a console can show the cost while the agent types.

A text that fits the GSM 03.38 alphabet is sent as GSM-7: 160 septets in one SMS, 153 per segment
once it is split (the user data header eats 7). Characters of the extension table (`{ } [ ] ~ \\ |
^ €` and form feed) are sent as an escape plus the character, so they count double and are never
cut in half between segments. Anything else (an emoji, most non-Latin scripts) switches the whole
message to UCS-2: 70 characters in one SMS, 67 per segment, counted in UTF-16 code units, so an
emoji outside the basic plane takes two and is never split across segments either.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

GSM7_BASIC = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
GSM7_EXTENSION = frozenset("\f^{}\\[~]|€")

GSM7_SINGLE, GSM7_MULTI = 160, 153
UCS2_SINGLE, UCS2_MULTI = 70, 67

Encoding = Literal["GSM-7", "UCS-2"]


@dataclass(frozen=True)
class SegmentCount:
    encoding: Encoding
    segments: int
    characters: int  # what the person typed (code points)
    units: int  # what the network counts: septets (GSM-7) or UTF-16 code units (UCS-2)
    per_segment: int  # the capacity that applies to this text: single-SMS or per-part


def is_gsm7(text: str) -> bool:
    return all(ch in GSM7_BASIC or ch in GSM7_EXTENSION for ch in text)


def _pack(widths: list[int], capacity: int) -> int:
    """Segments needed when no character (escape pair, surrogate pair) may straddle a boundary."""
    segments, used = 1, 0
    for width in widths:
        if used + width > capacity:
            segments += 1
            used = 0
        used += width
    return segments


def count_segments(text: str) -> SegmentCount:
    if is_gsm7(text):
        encoding: Encoding = "GSM-7"
        widths = [2 if ch in GSM7_EXTENSION else 1 for ch in text]
        single, multi = GSM7_SINGLE, GSM7_MULTI
    else:
        encoding = "UCS-2"
        widths = [2 if ord(ch) > 0xFFFF else 1 for ch in text]
        single, multi = UCS2_SINGLE, UCS2_MULTI
    units = sum(widths)
    if units <= single:
        return SegmentCount(encoding, 1 if units else 0, len(text), units, single)
    return SegmentCount(encoding, _pack(widths, multi), len(text), units, multi)
