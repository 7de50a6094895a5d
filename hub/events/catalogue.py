"""The catalogue of event types as data: what `GET /api/v1/events/catalogue` answers.

One entry per type (hub.events.types): its name, audience, description, the id columns it sets,
and a JSON Schema of its payload (the `data` of a websocket frame), derived from the dataclass so
it cannot drift from what is written.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from functools import cache
from typing import Any

from hub.events.types import CATALOGUE, TypedEvent
from hub.events.types.base import COLUMNS

_SCALARS: dict[Any, dict[str, Any]] = {int: {"type": "integer"}, str: {"type": "string"}, bool: {"type": "boolean"},
                                        float: {"type": "number"}, Any: {}}


def json_schema(annotation: Any) -> dict[str, Any]:
    """A JSON Schema for the few annotations event fields use."""
    if annotation in _SCALARS:
        return dict(_SCALARS[annotation])
    if annotation is type(None):
        return {"type": "null"}
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if origin in (types.UnionType, typing.Union):
        return {"anyOf": [json_schema(a) for a in args]}
    if origin is list:
        return {"type": "array", "items": json_schema(args[0])}
    if origin is dict:
        return {"type": "object", "additionalProperties": json_schema(args[1])}
    raise TypeError(f"no JSON Schema for {annotation!r}")


def describe(cls: type[TypedEvent]) -> dict[str, Any]:
    hints = typing.get_type_hints(cls)
    by_attr = {f.name: f for f in dataclasses.fields(cls)}
    properties = {key: json_schema(hints[attr]) for key, attr, _ in cls._PAYLOAD_FIELDS}
    required = [key for key, attr, omit_none in cls._PAYLOAD_FIELDS
                if not omit_none or by_attr[attr].default is dataclasses.MISSING]
    set_columns = {col for col, _ in cls._COLUMN_FIELDS}
    return {
        "type": cls.TYPE,
        "audience": cls.AUDIENCE,
        "description": " ".join((cls.__doc__ or "").split()),
        "columns": [c for c in COLUMNS if c in set_columns],
        "data": {"type": "object", "properties": properties, "required": required,
                 "additionalProperties": False},
    }


@cache
def catalogue_json() -> list[dict[str, Any]]:
    """Every event type, by name."""
    return [describe(CATALOGUE[name]) for name in sorted(CATALOGUE)]
