"""Canned responses for the reply box, rendered for one conversation's customer and the caller."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import APIRouter, Depends, Query

from agents_ui.deps import Caller, current_caller, get_hub
from hub import access
from hub.contacts.queries import get_contact
from hub.conversations.actions import get_conversation
from hub.conversations.canned import CannedResponses, person_fields
from hub.runtime import Hub

CANNED_DIR = Path(__file__).resolve().parents[2] / "templates" / "canned"
_canned = CannedResponses(CANNED_DIR)

router = APIRouter(prefix="/api/v1/canned", tags=["conversations"])


@router.get("", summary="Canned responses, rendered for a conversation")
def list_canned(conversation_id: int = Query(..., description="whose customer the responses address"),
                caller: Caller = Depends(current_caller), hub: Hub = Depends(get_hub)) -> dict[str, Any]:
    """From `templates/canned/<name>.<lang>.j2`, in the customer's language (English where a
    response has none), with `contact` (name, first_name, email, phone, tier, language) and `agent`
    (name, first_name, email) filled in."""
    with hub.db.read() as s:
        conv = access.check_read(caller.scope, get_conversation(s, conversation_id))
        c = get_contact(s, conv.contact_id)
        contact = person_fields(c.name, email=c.email, phone=c.phone, tier=c.tier, language=c.language)
    agent = person_fields(caller.name, email=caller.email)
    items = _canned.render(language=c.language, contact=contact, agent=agent)
    return {"items": [{"name": r.name, "title": r.title, "text": r.text} for r in items]}
