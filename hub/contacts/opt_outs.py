"""Channel-neutral contact preferences: a customer who opted out of messages on a channel (an SMS
STOP, an email unsubscribe) gets no reply there until they opt back in. Stored per (contact,
channel) in contact_opt_outs; each change is a `contact.opt_out_changed` event on the contact's
timeline."""

from __future__ import annotations

from collections.abc import Iterable
from typing import cast

from sqlalchemy import String, select
from sqlmodel import Session, col

from hub.clock import utcnow
from hub.contacts.models import Contact, ContactOptOut
from hub.db import table_of
from hub.errors import Conflict
from hub.events import log
from hub.events.types import OptOutChanged

# Why a reply (or a call) to a customer who opted out of its channel is refused.
OPTED_OUT = ("this customer opted out of messages on this channel; "
             "a reply can reach them here only after they opt back in")
_REASON = cast(String, table_of(ContactOptOut).c.reason.type).length


def do_set_opt_out(session: Session, contact: Contact, channel: str, opted_out: bool, reason: str) -> bool:
    """Record the customer's choice; False (and no event) when it was already so."""
    assert contact.id is not None
    row = session.get(ContactOptOut, (contact.id, channel))
    if (row is not None) == opted_out:
        return False
    reason = reason[:_REASON]
    if opted_out:
        session.add(ContactOptOut(contact_id=contact.id, channel=channel, reason=reason, opted_out_at=utcnow()))
    else:
        session.delete(row)
    session.flush()
    log.append(session, OptOutChanged(contact_id=contact.id, channel=channel, opted_out=opted_out, reason=reason))
    return True


def opted_out_channels(session: Session, contact_ids: Iterable[int]) -> dict[int, list[str]]:
    """contact id -> the channels they opted out of (contacts without any are left out)."""
    out: dict[int, list[str]] = {}
    ids = list(set(contact_ids))
    if ids:
        for contact_id, channel in session.execute(
                select(col(ContactOptOut.contact_id), col(ContactOptOut.channel))
                .where(col(ContactOptOut.contact_id).in_(ids))):
            out.setdefault(contact_id, []).append(channel)
    return out


def check_may_message(session: Session, contact_id: int, channel: str) -> None:
    """Conflict if the customer opted out of this channel."""
    if session.get(ContactOptOut, (contact_id, channel)) is not None:
        raise Conflict(OPTED_OUT, reason="opted_out")


def do_merge_opt_outs(session: Session, source_id: int, into_id: int) -> None:
    """On a merge, an opt-out stays with the person who gave it (the safe side: no message they
    refused): the merged contact keeps every opt-out of either."""
    kept = {row.channel for row in session.execute(
        select(ContactOptOut).where(col(ContactOptOut.contact_id) == into_id)).scalars()}
    for row in session.execute(select(ContactOptOut).where(col(ContactOptOut.contact_id) == source_id)).scalars():
        if row.channel not in kept:
            session.add(ContactOptOut(contact_id=into_id, channel=row.channel, reason=row.reason,
                                      opted_out_at=row.opted_out_at))
