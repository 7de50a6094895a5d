"""What the delivery worker hands an adapter for an outbox row: an `OutboundMessage`, or an
`OutboundCall` for a row of kind "call" (`payload["kind"]`), with the customer's address on the
channel (by the adapter's `address_kind`, unless the row names it) and the conversation's thread
keys, oldest first. Built in the claiming transaction: one query each for a whole batch."""

from __future__ import annotations

from collections.abc import Mapping

from sqlmodel import Session

from hub.contacts.addresses import addresses_of
from hub.conversations.threads import keys_of
from hub.outbox.models import CALL, OutboxItem
from hub.ports import Attachment, ChannelAdapter, Outbound, OutboundCall, OutboundMessage


def outbound_items(session: Session, items: list[OutboxItem],
                   adapters: Mapping[str, ChannelAdapter]) -> list[Outbound]:
    keys = keys_of(session, (i.conversation_id for i in items if i.conversation_id is not None))
    wanted: dict[str, set[int]] = {}  # address kind -> contacts whose address is needed
    for item in items:
        kind, contact_id = adapters[item.channel].address_kind, item.payload.get("metadata", {}).get("contact_id")
        if kind is not None and not item.payload.get("to") and isinstance(contact_id, int):
            wanted.setdefault(kind, set()).add(contact_id)
    addresses = {kind: addresses_of(session, ids, kind) for kind, ids in wanted.items()}
    out: list[Outbound] = []
    for item in items:
        p = item.payload
        metadata = p.get("metadata", {})
        kind = adapters[item.channel].address_kind
        to = p.get("to") or (addresses.get(kind, {}).get(metadata.get("contact_id"), "") if kind else "")
        assert item.id is not None
        if p.get("kind") == CALL:
            out.append(OutboundCall(outbox_id=item.id, conversation_id=item.conversation_id, channel=item.channel,
                                    source=p.get("source") or "", to=to, metadata=metadata))
            continue
        out.append(OutboundMessage(
            outbox_id=item.id, message_id=item.message_id, conversation_id=item.conversation_id,
            channel=item.channel, source=p.get("source") or "", to=to, text=p.get("text") or "",
            html=p.get("html"), subject=p.get("subject"),
            attachments=tuple(Attachment.from_dict(a) for a in p.get("attachments", [])), metadata=metadata,
            thread_keys=keys.get(item.conversation_id, ()) if item.conversation_id is not None else (),
        ))
    return out
