"""JSON text on the hot paths (event payloads written and sent to consoles): orjson.

The standard `json` module was about a tenth of the hub's CPU per inbound message (encoding each
event's payload for the database, decoding it again in the event tail, re-encoding it per frame;
bench/RESULTS.md). orjson writes compact JSON; readers parse it, so the spacing is no contract.
Keys that are not strings (ints) are written as strings, as `json.dumps` does.
"""

from __future__ import annotations

from typing import Any

import orjson

_OPTIONS = orjson.OPT_NON_STR_KEYS


def dumps(value: Any) -> str:
    return orjson.dumps(value, option=_OPTIONS).decode()


def loads(text: str | bytes) -> Any:
    return orjson.loads(text)
