"""A small synchronous client for the agent websocket (`/ws/agent`), for tests.

It speaks the protocol documented in agents_ui/ws.py: send `{"type": "resume", "last_event_id": N}`
first, then read event frames (they carry an `id`) and control frames (`ready`, `resync_required`,
`pong`, `error`). Built on the `websockets` library's sync client; every wait has a timeout.
"""

from __future__ import annotations

import contextlib
import json
import socket
import time
from collections.abc import Callable
from typing import Any

from websockets.exceptions import ConnectionClosed
from websockets.sync.client import ClientConnection, connect


def is_event(frame: dict[str, Any]) -> bool:
    """Event frames carry the log id; control frames (ready, pong, ...) do not."""
    return "id" in frame


class AgentSocket:
    def __init__(self, ws_base_url: str, token: str, *, last_event_id: int = 0, open_timeout: float = 10.0) -> None:
        self._stack = contextlib.ExitStack()
        # Used as a context manager (the non-deprecated way); max_queue=None keeps reading frames we
        # have not consumed yet, so a close handshake is never stuck behind flow control.
        self.conn: ClientConnection = self._stack.enter_context(connect(
            f"{ws_base_url}/ws/agent",
            additional_headers={"Authorization": f"Bearer {token}"},
            open_timeout=open_timeout,
            close_timeout=2,
            max_queue=None,
        ))
        self.send({"type": "resume", "last_event_id": last_event_id})
        self.frames: list[dict[str, Any]] = []  # everything received, in order

    def send(self, frame: dict[str, Any]) -> None:
        self.conn.send(json.dumps(frame))

    def recv(self, timeout: float) -> dict[str, Any] | None:
        """The next frame, or None if nothing arrived within `timeout` seconds."""
        try:
            raw = self.conn.recv(timeout=timeout)
        except TimeoutError:
            return None
        frame = json.loads(raw)
        assert isinstance(frame, dict), f"non-object frame {raw!r}"
        self.frames.append(frame)
        return frame

    def wait_for_frame(self, match: Callable[[dict[str, Any]], bool], *, timeout: float = 10.0,
                       what: str = "a frame") -> dict[str, Any]:
        """Read frames until one matches; fail with what was seen after `timeout` seconds."""
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"timed out after {timeout}s waiting for {what}; got {self.frames[-20:]}")
            frame = self.recv(left)
            if frame is not None and match(frame):
                return frame

    def wait_ready(self, timeout: float = 10.0) -> dict[str, Any]:
        frame = self.wait_for_frame(lambda f: f.get("type") in ("ready", "resync_required"), timeout=timeout,
                                    what="ready")
        assert frame["type"] == "ready", frame
        return frame

    def close(self) -> None:
        """A clean close (closing handshake)."""
        with contextlib.suppress(ConnectionClosed, OSError):
            self._stack.close()

    def drop(self) -> None:
        """An abrupt disconnect, as when a laptop loses its network: no closing handshake."""
        with contextlib.suppress(OSError):
            self.conn.socket.shutdown(socket.SHUT_RDWR)
        self.close()

    def __enter__(self) -> AgentSocket:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()
