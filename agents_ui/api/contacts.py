"""Contacts and their one timeline across all conversations and channels."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Query
from pydantic import ConfigDict, Field
from sqlmodel import Session

from agents_ui.api.schemas import In
from agents_ui.deps import Caller, current_caller, get_hub
from hub import access
from hub.contacts import matches, queries
from hub.contacts.models import Contact, ContactIdentity
from hub.contacts.opt_outs import opted_out_channels
from hub.contacts.preferences import do_update_contact
from hub.contacts.schemas import contact_dict, event_dict
from hub.conversations import customers
from hub.conversations.merge import do_merge
from hub.conversations.queries import contact_conversations
from hub.conversations.schemas import conversation_dict
from hub.runtime import Hub

router = APIRouter(prefix="/api/v1/contacts", tags=["contacts"])


def contact_views(s: Session, contacts: list[Contact],
                  idents: list[ContactIdentity] | None = None) -> list[dict[str, Any]]:
    """Contacts as the API shows them: `opted_out_channels`, and `sms_opted_out` for clients
    written before opt-outs were per channel (deprecated: read `opted_out_channels`)."""
    opted_out = opted_out_channels(s, [c.id for c in contacts if c.id is not None])
    views = [contact_dict(c, idents, opted_out.get(c.id, ()) if c.id is not None else ()) for c in contacts]
    for view in views:
        view["sms_opted_out"] = "sms" in view["opted_out_channels"]
    return views


def contact_view(s: Session, contact: Contact, idents: list[ContactIdentity] | None = None) -> dict[str, Any]:
    return contact_views(s, [contact], idents)[0]


@router.get("", summary="Search contacts by name, email or phone")
def search(q: str | None = Query(None, max_length=200, description="at least 2 characters; optional for "
                                 "supervisors (then: every contact, newest first)"),
           limit: int = Query(50, ge=1, le=200),
           caller: Caller = Depends(current_caller), hub: Hub = Depends(get_hub)) -> dict[str, Any]:
    text = access.contact_search_text(caller.scope, q)
    with hub.db.read() as s:
        found = customers.search_contacts(s, text, limit=limit, within=access.contact_within(caller.scope))
        return {"items": contact_views(s, list(found))}


@router.get("/{contact_id}", summary="A contact, their identities and conversations")
def get_contact(
    contact_id: int, caller: Caller = Depends(current_caller), hub: Hub = Depends(get_hub)
) -> dict[str, Any]:
    with hub.db.read() as s:
        contact = access.check_contact(s, caller.scope, contact_id)
        convs = contact_conversations(s, caller.scope, contact_id)
        return {
            **contact_view(s, contact, queries.identities(s, contact_id)),
            "conversations": [conversation_dict(c) for c in convs],
            # Contacts that may be the same customer (an address that arrived unproven with
            # theirs): confirm with POST /api/v1/contacts/{id}/merge. Only those the caller may
            # read: a suggestion shows the other customer's name.
            "suggested_matches": matches.suggested_matches(s, contact_id,
                                                           readable=access.readable_contacts(caller.scope)),
        }


class ContactPatchIn(In):  # In: no NUL character (SQLite stored one in a name)
    model_config = ConfigDict(extra="forbid")
    name: str | None = Field(default=None, max_length=200)
    tier: str | None = Field(default=None, max_length=32, description="e.g. vip (routing rules match it; vip "
                             "raises priority): supervisors only")
    language: str | None = Field(default=None, max_length=16, description="a BCP-47 tag such as es or pt-BR; "
                                 "null clears it")


@router.patch("/{contact_id}", summary="Change a contact's name, tier or language")
def update_contact(contact_id: int, body: ContactPatchIn, caller: Caller = Depends(current_caller),
                   hub: Hub = Depends(get_hub)) -> dict[str, Any]:
    """Fields left out stay as they are. Agents who may read the contact set its name and language;
    the tier (which raises routing priority) is for supervisors. Appends `contact.updated`."""
    changes = {k: getattr(body, k) for k in body.model_fields_set}
    access.check_contact_changes(caller.scope, changes)
    with hub.db.write() as s:
        contact = access.check_contact(s, caller.scope, contact_id)
        do_update_contact(s, contact, changes, actor_agent_id=caller.agent_id)
        return contact_view(s, contact, queries.identities(s, contact_id))


class MergeIn(In):
    model_config = ConfigDict(extra="forbid")
    into: int = Field(ge=1, le=2**63 - 1, description="the contact that keeps everything")


@router.post("/{contact_id}/merge", summary="Merge this contact into another (the same customer)")
def merge(contact_id: int, body: MergeIn, caller: Caller = Depends(current_caller),
          hub: Hub = Depends(get_hub)) -> dict[str, Any]:
    """Identities, conversations and the timeline move into `into`, with a `contact.merged` event on
    both timelines; this contact stays, empty. Supervisors, or agents who may read both."""
    with hub.db.write() as s:
        access.check_match(s, caller.scope, contact_id, body.into)
        into = do_merge(s, contact_id, body.into, actor_agent_id=caller.agent_id)
        return contact_view(s, into, queries.identities(s, body.into))


class DismissMatchIn(In):
    model_config = ConfigDict(extra="forbid")
    other: int = Field(ge=1, le=2**63 - 1, description="the contact suggested as this one's, who is someone else")


@router.post("/{contact_id}/dismiss-match", summary="Dismiss a suggested match: not the same customer")
def dismiss_match(contact_id: int, body: DismissMatchIn, caller: Caller = Depends(current_caller),
                  hub: Hub = Depends(get_hub)) -> dict[str, Any]:
    """`other` is no longer suggested as this contact's (nor this one as theirs), with a
    `contact.match_dismissed` event on both timelines; 404 if it was not suggested. Supervisors, or
    agents who may read both. Answers with the contact as `GET` does."""
    with hub.db.write() as s:
        access.check_match(s, caller.scope, contact_id, body.other)
        matches.do_dismiss_match(s, contact_id, body.other, actor_agent_id=caller.agent_id)
    return get_contact(contact_id, caller, hub)


@router.get("/{contact_id}/timeline", summary="Everything that happened with this contact, newest first")
def timeline(
    contact_id: int,
    before: int | None = Query(None, description="page: events with a smaller id than this"),
    limit: int = Query(50, ge=1, le=200),
    caller: Caller = Depends(current_caller),
    hub: Hub = Depends(get_hub),
) -> dict[str, Any]:
    """Every message, note, status change, assignment and delivery status across all channels
    (in `team` visibility: those of the caller's teams, own and shared-inbox conversations)."""
    with hub.db.read() as s:
        access.check_contact(s, caller.scope, contact_id)
        events = customers.timeline(s, contact_id, before_id=before, limit=limit,
                                  within=access.contact_within(caller.scope))
    items = [event_dict(e) for e in events]
    return {"items": items, "next_before": items[-1]["id"] if len(items) == limit else None}
