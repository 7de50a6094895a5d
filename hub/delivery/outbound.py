"""What the delivery worker hands an adapter for an outbox row: an `OutboundMessage`, or an
`OutboundCall` for a row of kind "call" (`payload["kind"]`), with the customer's address on the
channel (by the adapter's `address_kind`, unless the row names it) and the conversation's thread
keys, oldest first (the claim returns them: hub.delivery.claim). Built in the claiming transaction:
one query for a whole batch's addresses, when the rows do not carry them. That
transaction also stores, at an item's first claim, the key its adapter will send it under on
every attempt (`ChannelAdapter.send_key`: email's Message-ID), before anything is sent."""

from __future__ import annotations

import logging
from collections.abc import Collection, Mapping
from dataclasses import replace

from sqlalchemy import bindparam, update
from sqlmodel import Session

from hub.contacts.addresses import addresses_of
from hub.outbox.actions import OUTBOX
from hub.outbox.models import CALL, OutboxItem
from hub.ports import Attachment, ChannelAdapter, Outbound, OutboundCall, OutboundMessage

logger = logging.getLogger(__name__)
_STORE_KEY = update(OUTBOX).where(OUTBOX.c.id == bindparam("item_id")).values(send_key=bindparam("key"))


def outbound_items(session: Session, items: list[OutboxItem], adapters: Mapping[str, ChannelAdapter], *,
                   keys: Mapping[int, tuple[str, ...]], outcome_unknown: Collection[int | None] = ()) -> list[Outbound]:
    """`keys`: each conversation's thread keys, oldest first. `outcome_unknown`: the ids of items an
    earlier attempt of which never recorded its end."""
    wanted: dict[str, set[int]] = {}  # address kind -> contacts whose address is needed
    for item in items:
        kind, contact_id = adapters[item.channel].address_kind, item.payload.get("metadata", {}).get("contact_id")
        if kind is not None and not item.payload.get("to") and isinstance(contact_id, int):
            wanted.setdefault(kind, set()).add(contact_id)
    addresses = {kind: addresses_of(session, ids, kind) for kind, ids in wanted.items()}
    out: list[Outbound] = []
    minted: list[dict[str, object]] = []
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
        message = OutboundMessage(
            outbox_id=item.id, message_id=item.message_id, conversation_id=item.conversation_id,
            channel=item.channel, source=p.get("source") or "", to=to, text=p.get("text") or "",
            html=p.get("html"), subject=p.get("subject"),
            attachments=tuple(Attachment.from_dict(a) for a in p.get("attachments", [])), metadata=metadata,
            thread_keys=keys.get(item.conversation_id, ()) if item.conversation_id is not None else (),
            send_key=item.send_key, outcome_unknown=item.id in outcome_unknown,
        )
        if item.send_key is None:
            item.send_key = _mint_key(adapters[item.channel], message)
            message = replace(message, send_key=item.send_key)
            if item.send_key is not None:
                minted.append({"item_id": item.id, "key": item.send_key})
        out.append(message)
    if minted:  # the claimed rows are no session's entities (hub.delivery.claim): written here
        session.execute(_STORE_KEY, minted)
    return out


def _mint_key(adapter: ChannelAdapter, message: OutboundMessage) -> str | None:
    mint = getattr(adapter, "send_key", None)  # optional: adapters without it send under no key
    if mint is None:
        return None
    try:
        key = mint(message)
    except Exception:  # a claim must not fail for one item: it is sent without a key
        logger.exception("%s: minting the send key of outbox item %s failed", message.channel, message.outbox_id)
        return None
    return key if isinstance(key, str) and 0 < len(key) <= 200 else None  # the column's size
