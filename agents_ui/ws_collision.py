"""One agent socket's side of collision presence (hub/viewers.py): "Ben is viewing", "Ben is
typing a reply" on the conversation this console has open.

Frames (agents_ui/ws.py): client → `{"type": "viewing", "conversation_id": C}` when it opens C and
every VIEWING_REFRESH seconds while it stays (`null`: none open); server → `{"type": "viewers",
"conversation_id": C, "agents": [{"id", "name"}]}` (the others who have C open, sent on joining and
on every change) and `{"type": "typing", "conversation_id": C, "who": "agent", "agent_id", "name",
"mode": "reply"|"note"}`. An agent who may not read C learns nothing about it: a `viewing` frame for
it is ignored as for a conversation that does not exist, and hints reach a socket only while it has
C open and its agent may read C as last read (a move to another team stops them).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Any

from agents_ui.deps import Caller
from hub.conversations.models import Conversation
from hub.runtime import Hub
from hub.viewers import AgentTyping, Hint, TypingMode, Viewer, Work

# Conversation ids are 32-bit in the database (events' are 64): a larger one cannot be looked up.
MAX_CONVERSATION_ID = 2**31 - 1


class CollisionPresence:
    def __init__(self, hub: Hub, caller: Callable[[], Caller], send: Callable[[str], None]) -> None:
        self.hub = hub
        self.caller = caller
        self.send = send
        self.last: tuple[int, list[dict[str, Any]]] | None = None
        self.stop_hints = hub.viewers.on_hint(self.hint)

    def close(self) -> None:
        self.stop_hints()
        self.hub.viewers.leave(self)

    @property
    def me(self) -> Viewer:
        caller = self.caller()
        return Viewer(caller.agent_id, caller.name)

    def hint(self, hint: Hint) -> None:
        open_id = self.hub.viewers.viewing(self)
        caller = self.caller()
        if hint.conversation_id != open_id or not caller.scope.can_see_conversation(*hint.work):
            return
        if isinstance(hint, AgentTyping):
            if hint.viewer.agent_id == caller.agent_id:
                return
            self.send(json.dumps({"type": "typing", "conversation_id": open_id, "who": "agent",
                                  "agent_id": hint.viewer.agent_id, "name": hint.viewer.name, "mode": hint.mode}))
            return
        others = [{"id": v.agent_id, "name": v.name} for v in hint.viewers if v.agent_id != caller.agent_id]
        if self.last == (open_id, others):
            return
        self.last = (open_id, others)
        self.send(json.dumps({"type": "viewers", "conversation_id": open_id, "agents": others}))

    async def view(self, conversation_id: object) -> str | None:
        """A `viewing` frame; an error message for a malformed one."""
        if conversation_id is None:
            self.leave()
            return None
        if type(conversation_id) is not int or not 0 < conversation_id <= MAX_CONVERSATION_ID:
            return "viewing: conversation_id must be a conversation's id, or null"
        if self.hub.viewers.viewing(self) == conversation_id:
            self.hub.viewers.view(self, self.me, conversation_id)  # still there
            return None
        work = await asyncio.to_thread(self.work_of, conversation_id)
        if work is None or not self.caller().scope.can_see_conversation(*work):
            self.leave()  # as for a conversation that does not exist
            return None
        self.last = None  # the joiner gets the room as it is, even empty
        self.hub.viewers.view(self, self.me, conversation_id, work)
        return None

    def typing(self, conversation_id: int, mode: TypingMode, work: Work) -> None:
        """The socket's agent types in a conversation they may read (checked by the caller)."""
        if self.hub.viewers.viewing(self) != conversation_id:
            self.last = None
        self.hub.viewers.typing(self, self.me, conversation_id, mode, work)

    def leave(self) -> None:
        self.last = None
        self.hub.viewers.leave(self)

    def work_of(self, conversation_id: int) -> Work | None:
        with self.hub.db.read() as s:
            conv = s.get(Conversation, conversation_id)
            return None if conv is None else (conv.team_id, conv.assignee_id)
