"""Collision presence: which agents have which conversation open, and which of them is typing a
reply or a note there, so two agents do not answer the same customer.

The agent-facing side of hub/hints.py, and as ephemeral: never written to the event log, never
replayed, and only within this process (agents connected to different hub processes do not see
each other; Redis pub/sub would carry it, later). Each console session (one socket) has at most
one conversation open; it says so when it opens one, leaves it, and again every few seconds while
it stays (`VIEWING_TTL`: a session not heard from for that long is dropped, as a tab whose network
went away without closing its socket).

Listeners get `ViewersChanged` and `AgentTyping` hints, each with the conversation's team and
assignee as last read, so that a socket tells its agent only about conversations they may read.
They are plain callables run on the event loop and must not block.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from typing import Literal

logger = logging.getLogger(__name__)

# A console repeats "I am viewing C" every VIEWING_REFRESH seconds (agents_ui/static/js/collision.js);
# a session silent for VIEWING_TTL is gone.
VIEWING_REFRESH = 15.0
VIEWING_TTL = 45.0

Work = tuple[int | None, int | None]  # the conversation's (team_id, assignee_id), for visibility
TypingMode = Literal["reply", "note"]


@dataclass(frozen=True)
class Viewer:
    agent_id: int
    name: str


@dataclass(frozen=True)
class ViewersChanged:
    """Who has `conversation_id` open now (each agent once, by name)."""

    conversation_id: int
    work: Work
    viewers: tuple[Viewer, ...]


@dataclass(frozen=True)
class AgentTyping:
    """`viewer` is typing a reply or an internal note in `conversation_id` (for a few seconds)."""

    conversation_id: int
    work: Work
    viewer: Viewer
    mode: TypingMode


Hint = ViewersChanged | AgentTyping
Listener = Callable[[Hint], None]


@dataclass
class _Session:
    conversation_id: int
    viewer: Viewer
    seen: float


class ConversationViewers:
    def __init__(self, ttl: float = VIEWING_TTL, clock: Callable[[], float] = time.monotonic) -> None:
        self.ttl = ttl
        self.clock = clock
        self._sessions: dict[Hashable, _Session] = {}
        self._rooms: dict[int, set[Hashable]] = {}
        self._work: dict[int, Work] = {}
        self._listeners: set[Listener] = set()
        self._swept = clock()

    def on_hint(self, listener: Listener) -> Callable[[], None]:
        self._listeners.add(listener)
        return lambda: self._listeners.discard(listener)

    def viewers(self, conversation_id: int) -> tuple[Viewer, ...]:
        seen: dict[int, Viewer] = {}
        for key in self._rooms.get(conversation_id, ()):
            viewer = self._sessions[key].viewer
            seen.setdefault(viewer.agent_id, viewer)
        return tuple(sorted(seen.values(), key=lambda v: (v.name.casefold(), v.agent_id)))

    def viewing(self, key: Hashable) -> int | None:
        found = self._sessions.get(key)
        return None if found is None else found.conversation_id

    def view(self, key: Hashable, viewer: Viewer, conversation_id: int, work: Work | None = None) -> None:
        """Session `key` (one console) has `conversation_id` open: joins it, or stays (a refresh).
        `work` as just read (None: as last known, for a refresh)."""
        now = self.clock()
        found = self._sessions.get(key)
        if work is not None:
            self._work[conversation_id] = work
        if found is not None and found.conversation_id == conversation_id and found.viewer == viewer:
            found.seen = now
            return
        if found is not None:
            self._drop(key)
        self._sessions[key] = _Session(conversation_id, viewer, now)
        self._rooms.setdefault(conversation_id, set()).add(key)
        self._changed(conversation_id)
        if found is not None and found.conversation_id != conversation_id:
            self._changed(found.conversation_id)

    def leave(self, key: Hashable) -> None:
        """Session `key` closed its conversation, or its socket."""
        found = self._sessions.get(key)
        if found is not None:
            self._drop(key)
            self._changed(found.conversation_id)

    def typing(self, key: Hashable, viewer: Viewer, conversation_id: int, mode: TypingMode, work: Work) -> None:
        """Typing counts as viewing (the console says it has the conversation open anyway)."""
        self.view(key, viewer, conversation_id, work)
        self._tell(AgentTyping(conversation_id, work, viewer, mode))

    def sweep(self) -> None:
        """Drop sessions not heard from within the TTL (at most every third of it: cheap to call often)."""
        now = self.clock()
        if now - self._swept < self.ttl / 3:
            return
        self._swept = now
        stale = [key for key, s in self._sessions.items() if now - s.seen > self.ttl]
        for key in stale:
            self.leave(key)

    def _drop(self, key: Hashable) -> None:
        session = self._sessions.pop(key)
        room = self._rooms.get(session.conversation_id)
        if room is not None:
            room.discard(key)
            if not room:
                del self._rooms[session.conversation_id]

    def _changed(self, conversation_id: int) -> None:
        work = self._work.get(conversation_id, (None, None))
        if conversation_id not in self._rooms:
            self._work.pop(conversation_id, None)
        self._tell(ViewersChanged(conversation_id, work, self.viewers(conversation_id)))

    def _tell(self, hint: Hint) -> None:
        for listener in list(self._listeners):
            try:
                listener(hint)
            except Exception:  # one broken listener must not keep the hint from the others
                logger.exception("a viewers listener failed")
