"""Text both databases store alike. PostgreSQL refuses a NUL character in text and SQLite stores
it, so every edge refuses one before the writer: the JSON API's bodies (agents_ui `In`), a
channel's fields (each in its own words to its vendor) and the writer's last check
(hub.conversations.storable)."""

from __future__ import annotations

# The words the API and the writer answer with, after the field's name.
NUL_REFUSED = "must not contain a NUL character"


def has_nul(value: object) -> bool:
    """Whether a text, or any text in nested dicts (keys too), lists and tuples, holds a NUL character."""
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(has_nul(k) or has_nul(v) for k, v in value.items())
    if isinstance(value, list | tuple):
        return any(has_nul(v) for v in value)
    return False
