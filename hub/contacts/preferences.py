"""A contact's tier and language: what routing rules match on (a VIP boost, a Spanish queue)."""

from __future__ import annotations

import functools
import re
from typing import Any

from sqlmodel import Session

from hub.clock import utcnow
from hub.contacts.models import Contact
from hub.errors import Invalid
from hub.events import log
from hub.events.types import ContactUpdated

NEW_CONTACT_TIER = "standard"
# Free short text, so a company can name its own tiers; routing rules match it as is, and "vip"
# raises priority (hub.routing.actions).
_TIER = re.compile(r"[a-z0-9][a-z0-9_-]{0,31}")
# A short BCP-47 tag: a language, optionally a script and/or a region (es, es-MX, zh-Hant-TW).
_LANGUAGE = re.compile(r"[a-z]{2,3}(-[a-z0-9]{2,8}){0,2}", re.IGNORECASE)


@functools.lru_cache(maxsize=1024)
def normalize_tier(raw: str) -> str:
    tier = raw.strip().lower()
    if not _TIER.fullmatch(tier):
        raise Invalid(f"tier must be a short word (letters, digits, - or _, at most 32), like vip: {raw!r}")
    return tier


@functools.lru_cache(maxsize=1024)
def normalize_language(raw: str) -> str:
    """A BCP-47 tag in its usual case (es, es-MX, zh-Hant-TW), or Invalid."""
    tag = raw.strip()
    if len(tag) > 16 or not _LANGUAGE.fullmatch(tag):
        raise Invalid(f"language must be a short BCP-47 tag like es or pt-BR: {raw!r}")
    first, *rest = tag.split("-")
    parts = [first.lower()] + [p.upper() if len(p) == 2 else p.title() if len(p) == 4 else p.lower() for p in rest]
    return "-".join(parts)


def do_update_contact(session: Session, contact: Contact, changes: dict[str, Any], *,
                      actor_agent_id: int | None) -> dict[str, Any]:
    """Set name, tier and/or language (None clears the language), with a `contact.updated` event
    of what changed. Returns what changed (field -> [before, after])."""
    values: dict[str, Any] = {}
    if "name" in changes:
        name = (changes["name"] or "").strip()
        if not name:
            raise Invalid("name must not be empty")
        values["name"] = name
    if "tier" in changes:
        if changes["tier"] is None:
            raise Invalid(f"tier must be a short word, like vip (the default is {NEW_CONTACT_TIER})")
        values["tier"] = normalize_tier(changes["tier"])
    if "language" in changes:
        values["language"] = None if changes["language"] is None else normalize_language(changes["language"])
    changed = {k: [getattr(contact, k), v] for k, v in values.items() if getattr(contact, k) != v}
    if not changed:
        return {}
    for key, (_, value) in changed.items():
        setattr(contact, key, value)
    contact.updated_at = utcnow()
    session.flush()
    assert contact.id is not None
    log.append(session, ContactUpdated(contact_id=contact.id, actor_agent_id=actor_agent_id,
                                       changes=changed))
    return changed
