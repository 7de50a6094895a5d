"""What an event type is: a frozen dataclass whose fields are the event's id columns and its payload.

Every event the hub appends is an instance of a class registered with `@event(name, audience)`, and
`hub.events.log.append(session, SomeEvent(...))` is the only way into the log (or, for a statement
that writes other rows too, `hub.events.writes.part`, which is what `append` uses). A field is a payload
key unless marked `column()` (its value goes to the row's `conversation_id`, `contact_id` or
`actor_agent_id` column; `column(..., payload=True)` to both). A trailing underscore is dropped from
a key (`from_` is the payload's `from`). A payload field whose default is None is left out of the
payload when None (`reason` of a status change), so the JSON the consoles receive is what it was
before the catalogue existed; a field that may be None but has no default is always there.

Plain dataclasses with slots, no validation on construction: `message.created` is built for every
inbound message, and mypy checks the call sites instead.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any, ClassVar, Literal, TypeVar, cast, dataclass_transform

Audience = Literal["public", "agents"]
# "public": may reach the customer's own feed, through the feed's own choice of what to show of it
# (their messages, who took the conversation, its closing). "agents": never leaves the agents' side
# (DESIGN.md contract 7). Stored as the row's `private` (agents only).
AUDIENCES: tuple[Audience, ...] = ("public", "agents")
COLUMNS = ("conversation_id", "contact_id", "actor_agent_id")

_COLUMN = "hub.events.column"
_IN_PAYLOAD = "hub.events.in_payload"


def column(name: str | None = None, *, payload: bool = False, default: Any = dataclasses.MISSING) -> Any:
    """A field stored in the id column `name` (the field's own name by default); `payload=True`
    keeps it in the payload as well."""
    return dataclasses.field(default=default, metadata={_COLUMN: name, _IN_PAYLOAD: payload})


class TypedEvent:
    """The base of every catalogued event type (see the module's docstring)."""

    __slots__ = ()
    TYPE: ClassVar[str]
    AUDIENCE: ClassVar[Audience]
    # (column, field) pairs; (payload key, field, omit when None) triples. Set by `@event`.
    _COLUMN_FIELDS: ClassVar[tuple[tuple[str, str], ...]]
    _PAYLOAD_FIELDS: ClassVar[tuple[tuple[str, str, bool], ...]]
    # Set on every subclass by `@shared` (declared here so mypy knows event types are dataclasses).
    __dataclass_fields__: ClassVar[dict[str, dataclasses.Field[Any]]]

    @property
    def private(self) -> bool:
        return self.AUDIENCE == "agents"

    def ids(self) -> tuple[int | None, int | None, int | None]:
        """Its (conversation_id, contact_id, actor_agent_id) columns."""
        values: dict[str, int | None] = {col: getattr(self, attr) for col, attr in self._COLUMN_FIELDS}
        return values.get("conversation_id"), values.get("contact_id"), values.get("actor_agent_id")

    def payload(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for key, attr, omit_none in self._PAYLOAD_FIELDS:
            value = getattr(self, attr)
            if value is not None or not omit_none:
                out[key] = value
        return out


CATALOGUE: dict[str, type[TypedEvent]] = {}
E = TypeVar("E", bound=type[TypedEvent])


@dataclass_transform(kw_only_default=True, frozen_default=True, field_specifiers=(column,))
def shared(cls: E) -> E:
    """A base for event types that share their fields (not an event type itself)."""
    return cast(E, dataclasses.dataclass(slots=True, frozen=True, kw_only=True)(cls))


@dataclass_transform(kw_only_default=True, frozen_default=True, field_specifiers=(column,))
def event(name: str, audience: Audience) -> Callable[[E], E]:
    """Register a class as the one definition of event type `name` (and make it a dataclass)."""
    if audience not in AUDIENCES:
        raise ValueError(f"{name}: audience must be one of {AUDIENCES}")

    def register(cls: E) -> E:
        if name in CATALOGUE:
            raise ValueError(f"event type {name!r} is defined twice")
        made = shared(cls)
        columns: list[tuple[str, str]] = []
        payload: list[tuple[str, str, bool]] = []
        for f in dataclasses.fields(made):
            if _COLUMN in f.metadata:
                col = f.metadata[_COLUMN] or f.name
                if col not in COLUMNS:
                    raise ValueError(f"{name}.{f.name}: no id column {col!r}")
                columns.append((col, f.name))
                if not f.metadata[_IN_PAYLOAD]:
                    continue
            payload.append((f.name.rstrip("_"), f.name, f.default is None))
        made.TYPE, made.AUDIENCE = name, audience
        made._COLUMN_FIELDS, made._PAYLOAD_FIELDS = tuple(columns), tuple(payload)
        CATALOGUE[name] = made
        return made

    return register
