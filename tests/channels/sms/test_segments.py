"""Segment counts at the boundaries: GSM-7 160/153, extension characters count double and are
never split, UCS-2 70/67 with emoji as two UTF-16 units."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from channels.sms.segments import count_segments


@pytest.mark.parametrize(("text", "segments"), [
    ("", 0),
    ("a", 1),
    ("a" * 160, 1),
    ("a" * 161, 2),
    ("a" * 306, 2),
    ("a" * 307, 3),
    ("Ça marché? 5 £ à 10:00, Ñoño ü @ Ørsted", 1),  # accented letters of the GSM alphabet stay GSM-7
])
def test_gsm7(text: str, segments: int) -> None:
    count = count_segments(text)
    assert (count.encoding, count.segments) == ("GSM-7", segments)


def test_extension_characters_count_double() -> None:
    assert count_segments("€" * 80).segments == 1  # 160 septets
    assert count_segments("€" * 81).segments == 2  # 162 septets
    assert count_segments("a" * 159 + "[").units == 161


def test_an_escape_pair_is_never_split_across_segments() -> None:
    # 306 septets would fit two parts of 153, but the euro would straddle the boundary.
    text = "a" * 152 + "€" + "a" * 152
    assert count_segments(text).units == 306
    assert count_segments(text).segments == 3


@pytest.mark.parametrize(("text", "segments"), [
    ("ж" * 70, 1),
    ("ж" * 71, 2),
    ("ж" * 134, 2),
    ("ж" * 135, 3),
    ("😀" * 35, 1),  # 70 UTF-16 units
    ("😀" * 36, 2),
    ("a" * 66 + "😀" + "aaa", 2),  # 71 units; the emoji does not fit the 67-unit first part
    ("hello ☺", 1),
])
def test_ucs2(text: str, segments: int) -> None:
    count = count_segments(text)
    assert (count.encoding, count.segments) == ("UCS-2", segments)


def test_one_emoji_switches_the_whole_message_to_ucs2() -> None:
    assert count_segments("a" * 100).segments == 1
    assert count_segments("a" * 100 + "🙂").segments == 2


def test_the_console_asks_while_typing(client: TestClient) -> None:
    resp = client.post("/api/v1/sms/segments", json={"text": "Your order ships today 🚚"})
    assert resp.status_code == 200
    assert resp.json() == {"encoding": "UCS-2", "segments": 1, "characters": 24, "units": 25, "per_segment": 70}
    resp = client.post("/api/v1/sms/segments", json={"text": "a" * 161})
    assert resp.json() == {"encoding": "GSM-7", "segments": 2, "characters": 161, "units": 161, "per_segment": 153}
