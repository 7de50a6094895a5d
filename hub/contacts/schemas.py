"""Plain-dict views of contacts and timeline events."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from hub.contacts.models import Contact, ContactIdentity
from hub.events.models import Event


def contact_dict(c: Contact, idents: list[ContactIdentity] | None = None,
                 opted_out: Iterable[str] = ()) -> dict[str, Any]:
    """`opted_out`: the channels the contact opted out of (hub.contacts.opt_outs)."""
    out: dict[str, Any] = {
        "id": c.id,
        "name": c.name,
        "email": c.email,
        "phone": c.phone,
        "tier": c.tier,
        "language": c.language,
        "opted_out_channels": sorted(opted_out),
        "created_at": c.created_at.isoformat(),
    }
    if idents is not None:
        out["identities"] = [{"kind": i.kind, "address": i.address} for i in idents]
    return out


def event_dict(e: Event) -> dict[str, Any]:
    return {
        "id": e.id,
        "type": e.type,
        "conversation_id": e.conversation_id,
        "contact_id": e.contact_id,
        "actor_agent_id": e.actor_agent_id,
        "private": e.private,
        "at": e.created_at.isoformat(),
        "data": e.payload,
    }
