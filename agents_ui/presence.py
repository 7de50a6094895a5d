"""One presence budget per agent, shared by the socket's presence frames and
`POST /api/v1/agents/me/presence`: each change is a write under the hub-wide lock and a
`presence.changed` event pushed to every console, so a script toggling through either door (or
both) gets at most PRESENCE_CHANGES in any PRESENCE_WINDOW_SECONDS. Per process: an agent's
requests spread over several nodes get that budget on each, which still bounds them."""

from __future__ import annotations

import threading
import time
import weakref
from collections import deque

from hub.errors import TooManyRequests
from hub.runtime import Hub

# Presence changes per agent (all their sockets and requests together) within the window.
PRESENCE_CHANGES = 5
PRESENCE_WINDOW_SECONDS = 1.0
# Agents remembered at once; past it the memory starts over (a burst then gets one more budget).
PRESENCE_AGENTS = 10_000


class PresenceThrottle:
    """At most PRESENCE_CHANGES presence requests per agent in any PRESENCE_WINDOW_SECONDS."""

    def __init__(self) -> None:
        self._recent: dict[int, deque[float]] = {}
        self._lock = threading.Lock()

    def retry_after(self, agent_id: int) -> float:
        """0 and counted when the agent may change now; otherwise the seconds to wait (not counted)."""
        now = time.monotonic()
        with self._lock:
            recent = self._recent.get(agent_id)
            if recent is None:
                if len(self._recent) >= PRESENCE_AGENTS:
                    self._recent.clear()
                recent = self._recent[agent_id] = deque(maxlen=PRESENCE_CHANGES)
            if len(recent) == PRESENCE_CHANGES and now - recent[0] < PRESENCE_WINDOW_SECONDS:
                return PRESENCE_WINDOW_SECONDS - (now - recent[0])
            recent.append(now)
            return 0.0

    def spend(self, agent_id: int) -> None:
        """Count one presence request, or raise TooManyRequests (its `retry_after` in seconds)."""
        wait = self.retry_after(agent_id)
        if wait > 0:
            raise TooManyRequests(f"too many presence changes; try again in {wait:.1f} seconds", retry_after=wait)


_throttles: weakref.WeakKeyDictionary[Hub, PresenceThrottle] = weakref.WeakKeyDictionary()
_throttles_lock = threading.Lock()


def presence_throttle(hub: Hub) -> PresenceThrottle:
    """The hub's one throttle (the socket and the REST route run on different threads)."""
    with _throttles_lock:
        return _throttles.setdefault(hub, PresenceThrottle())
