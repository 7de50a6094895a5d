"""A reply its channel could not bring to the customer now, sent again through another one
(`SendResult.hand_over`: a web chat visitor who left the page gets the agent's answer by email).

The hub names no channel here: the adapter says which, and the item goes there only when that
channel is on, addresses customers (`address_kind`), the customer has such an address and has not
opted out of it. The address: the contact's own (their main one of that kind), else the one they
claimed (hub.contacts.claims: typed in the widget, unproven). A claimed address is read only here,
so it gets only the replies in that customer's own conversations, which is what they asked for.
The new outbox item carries the same message: its outcome is the message's delivery status from
then on, and the keys the other channel mints (an email's reply token) thread the customer's
answer back into the same conversation. Otherwise nothing happens: the reply waits where it was
(the widget shows it when the visitor comes back).
"""

from __future__ import annotations

from collections.abc import Mapping

from sqlmodel import Session

from hub.contacts.addresses import addresses_of
from hub.contacts.claims import claimed_kind
from hub.contacts.opt_outs import check_may_message
from hub.errors import Conflict
from hub.outbox.actions import do_enqueue
from hub.outbox.models import CALL, OutboxItem
from hub.ports import ChannelAdapter


def do_hand_over(session: Session, item: OutboxItem, channel: str,
                 adapters: Mapping[str, ChannelAdapter]) -> OutboxItem | None:
    """The copy of `item` queued for `channel`, or None when it cannot go there."""
    adapter = adapters.get(channel)
    metadata = dict(item.payload.get("metadata") or {})
    contact_id = metadata.get("contact_id")
    if (adapter is None or adapter.address_kind is None or channel == item.channel or not isinstance(contact_id, int)
            or item.payload.get("kind") == CALL or metadata.get("handed_over_from")):
        return None
    kind = adapter.address_kind
    to = (addresses_of(session, [contact_id], kind).get(contact_id)
          or addresses_of(session, [contact_id], claimed_kind(kind)).get(contact_id))
    if not to:
        return None
    try:
        check_may_message(session, contact_id, channel)
    except Conflict:
        return None
    metadata["handed_over_from"] = item.channel
    # From the channel's default entry point (its first mailbox): the customer never wrote to one.
    payload = {**item.payload, "source": "", "metadata": metadata, "to": to}
    return do_enqueue(session, channel=channel, payload=payload, message_id=item.message_id,
                      conversation_id=item.conversation_id)
