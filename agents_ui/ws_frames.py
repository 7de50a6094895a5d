"""What the agent websocket accepts from a console: bounded frames, parsed safely, and a presence
throttle (each change is a write and an event pushed to every console)."""

from __future__ import annotations

import threading
import time
import weakref
from collections import deque
from typing import Any

from fastapi import WebSocket, WebSocketDisconnect

from hub import jsontext
from hub.runtime import Hub

# A console's frames are a few dozen bytes; this leaves room for anything the protocol may grow.
# Checked before parsing; `hub serve` also gives uvicorn this limit (in bytes), so a larger frame
# is refused by the protocol layer before it is buffered.
MAX_FRAME_CHARS = 64 * 1024
# Presence changes per agent (all their sockets together) within PRESENCE_WINDOW_SECONDS.
PRESENCE_CHANGES = 5
PRESENCE_WINDOW_SECONDS = 1.0
PRESENCE_AGENTS = 10_000


class FrameTooLarge(Exception):
    pass


async def receive_frame(ws: WebSocket) -> dict[str, Any] | None:
    """The next frame as a JSON object; None for anything else (not JSON, nested too deep, not an
    object). orjson parses (it refuses nesting past 1,024 levels with a ValueError, where `json`
    raised RecursionError) and reads integers beyond 64 bits as floats."""
    message = await ws.receive()
    if message["type"] == "websocket.disconnect":
        raise WebSocketDisconnect(message.get("code", 1000), message.get("reason"))
    data = message.get("text")
    if data is None:
        data = message.get("bytes") or b""
    if len(data) > MAX_FRAME_CHARS:
        raise FrameTooLarge
    try:
        frame = jsontext.loads(data)
    except ValueError:
        return None
    return frame if isinstance(frame, dict) else None


class PresenceThrottle:
    """At most PRESENCE_CHANGES presence frames per agent in any PRESENCE_WINDOW_SECONDS."""

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


_throttles: weakref.WeakKeyDictionary[Hub, PresenceThrottle] = weakref.WeakKeyDictionary()


def presence_throttle(hub: Hub) -> PresenceThrottle:
    return _throttles.setdefault(hub, PresenceThrottle())
