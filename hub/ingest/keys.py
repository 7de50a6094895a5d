"""Thread keys on the plain-SQL paths: a batch's keys resolved in one statement, its new keys
written with its messages.

What `hub.conversations.threads.find_threaded` and `record_keys` do for the ORM path, for a whole
batch: the keys already recorded (with their conversations) are read once; as the batch's messages
are placed in order, each plain one's own keys are claimed for its conversation (the first claim
keeps a key, as `record_keys` leaves a recorded key alone), so a reply to a message earlier in the
same batch threads to it. A message that goes another way (`do_ingest`, after the plain ones) blocks
every key it names: a later message naming one waits behind it, so nobody sees a key before the
message that records it in the batch's order.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from hub.conversations.threads import usable_keys
from hub.ingest.lookup import CONVERSATION_FIELDS, ConversationRow, read_conversation
from hub.plain_sql import PlainSql, rows_text
from hub.ports import InboundMessage

_FIELDS = ", ".join(f"c.{c.strip()}" for c in CONVERSATION_FIELDS.split(","))
# Joined to a VALUES list (see hub.ingest.lookup): one unique-index lookup per key.
_FIND = (f"SELECT tk.channel, tk.key, {_FIELDS} FROM (VALUES {{rows}}) v "
         "JOIN thread_keys tk ON tk.channel = v.column1 AND tk.key = v.column2 "
         "JOIN conversations c ON c.id = tk.conversation_id")
_RECORD = ("INSERT INTO thread_keys (channel, key, conversation_id, created_at) VALUES {rows} "
           "ON CONFLICT (channel, key) DO NOTHING")


def _named(msg: InboundMessage) -> tuple[list[str], list[str]]:
    """The keys a message looks up: strong, then weak (as `find_threaded` tries them)."""
    return usable_keys(msg.thread_keys), usable_keys(msg.weak_thread_keys)


def record_part(sql: PlainSql, keys: list[tuple[str, str, int]], now: datetime) -> tuple[str, list[Any]]:
    """The INSERT of (channel, key, conversation id), a key recorded before kept as it is, for
    `PlainSql.together`."""
    when = sql.when(now)
    return rows_text(_RECORD, "(?, ?, ?, ?)", len(keys)), [v for k in keys for v in (*k, when)]


def own_keys(msg: InboundMessage, conversation_id: int) -> list[tuple[str, str, int]]:
    return [(msg.channel, key, conversation_id) for key in usable_keys(msg.own_thread_keys)]


class BatchKeys:
    """The thread keys of a batch (`look_up`), as its messages are placed in order."""

    def __init__(self, known: dict[tuple[str, str], ConversationRow]) -> None:
        self.known = known  # recorded, or claimed by a plain message placed earlier
        self.new: list[tuple[str, str, int]] = []  # claimed in this batch: (channel, key, conversation)
        self.blocked: set[tuple[str, str]] = set()

    @classmethod
    def look_up(cls, sql: PlainSql, msgs: list[InboundMessage]) -> BatchKeys:
        wanted = list(dict.fromkeys((m.channel, k) for m in msgs if m.threaded
                                    for k in (*usable_keys(m.thread_keys), *usable_keys(m.weak_thread_keys),
                                              *usable_keys(m.own_thread_keys))))
        if not wanted:
            return cls({})
        sql.execute(rows_text(_FIND, "(?, ?)", len(wanted)), [v for key in wanted for v in key])
        return cls({(r[0], r[1]): read_conversation(r[2:]) for r in sql.fetchall()})

    def waits(self, msg: InboundMessage) -> bool:
        """Whether a key of the message is named by one placed earlier that goes another way."""
        return any((msg.channel, k) in self.blocked for k in self._all(msg))

    def threaded(self, msg: InboundMessage, contact_id: int | None) -> ConversationRow | None:
        """The conversation the message's keys name, as `find_threaded` finds it: the first known
        strong key's; else the first known weak key's whose customer is the sender. Whether it may
        take it (open, resolved within the window) is the caller's: only an open one is plain."""
        strong, weak = _named(msg)
        for key in strong + weak:
            conv = self.known.get((msg.channel, key))
            if conv is not None and (key in strong or conv.contact_id == contact_id):
                return conv
        return None

    def claim(self, msg: InboundMessage, conv: ConversationRow) -> None:
        """The message goes plain into `conv`: its own keys not yet known are that conversation's."""
        for channel, key, conversation_id in own_keys(msg, conv.id):
            if (channel, key) not in self.known:
                self.known[(channel, key)] = conv
                self.new.append((channel, key, conversation_id))

    def block(self, msg: InboundMessage) -> None:
        """The message goes another way, after the plain ones: later messages naming its keys wait."""
        self.blocked.update((msg.channel, k) for k in self._all(msg))

    def named_contacts(self, msg: InboundMessage) -> set[int]:
        """The customers whose conversations the message's known keys name."""
        return {conv.contact_id for k in self._all(msg) if (conv := self.known.get((msg.channel, k))) is not None}

    @staticmethod
    def _all(msg: InboundMessage) -> list[str]:
        return [*msg.thread_keys, *msg.weak_thread_keys, *msg.own_thread_keys]
