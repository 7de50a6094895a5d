"""`has_nul` (hub/ports_parts/storable_text.py): a NUL character anywhere in a text, a nested
dict's keys or values, a list or a tuple is found; everything else is fine."""

from __future__ import annotations

import pytest

from hub.ports import has_nul


@pytest.mark.parametrize(("value", "found"), [
    ("a\x00b", True), ("plain", False), ("", False), (None, False), (0, False), (b"a\x00", False),
    ({"name": "x", "tags": ["ok", "n\x00"]}, True), ({"k\x00": 1}, True), ({"k": {"deep": ("\x00",)}}, True),
    ({"k": [1, 2.0, None, {"v": "fine"}]}, False),
])
def test_a_nul_character_is_found_wherever_a_text_holds_one(value: object, found: bool) -> None:
    assert has_nul(value) is found
