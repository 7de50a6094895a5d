"""The agent websocket: `/ws/agent`.

Protocol (JSON text frames):
- client → `{"type": "resume", "last_event_id": N}` first. N = 0 means "from now on".
- server → every event after N the agent may see, in id order, each as
  `{"id", "type", "conversation_id", "contact_id", "actor_agent_id", "at", "data"}`;
  then `{"type": "ready", "last_event_id": M}`; then live events as they commit.
- server → `{"type": "resync_required", "head_event_id": H}` when N is unknown or too far behind
  to replay: reload state through the API, then resume from H.
- client → `{"type": "presence", "presence": "online"|"away"|"offline"}`, `{"type": "ping"}`.
Events are sent exactly once per connection and in order: ids at or below the last one sent are
dropped.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from typing import Any

from fastapi import APIRouter, WebSocket, WebSocketDisconnect

from agents_ui.deps import Caller, websocket_caller
from hub.errors import HubError
from hub.events import log
from hub.events.fanout import Subscription
from hub.events.log import EventView
from hub.events.visibility import can_see
from hub.runtime import Hub

router = APIRouter()
logger = logging.getLogger(__name__)
RESUME_TIMEOUT = 30.0


class AgentSocket:
    def __init__(self, ws: WebSocket, hub: Hub, caller: Caller) -> None:
        self.ws = ws
        self.hub = hub
        self.caller = caller
        self.last_sent = 0
        # Subscribe before reading the log, so nothing committed in between is missed.
        self.sub: Subscription = hub.bus.subscribe()

    async def send_events(self, events: list[EventView]) -> None:
        for ev in events:
            if ev.id <= self.last_sent:
                continue
            self.last_sent = ev.id
            if can_see(self.caller.scope, ev):
                await self.ws.send_text(ev.wire_json)

    def _backlog(self, after: int) -> tuple[int, int]:
        with self.hub.db.read() as s:
            return log.head_id(s), log.count_after(s, after)

    def _read(self, after: int) -> list[EventView]:
        with self.hub.db.read() as s:
            return log.read_after(s, after, 1000)

    async def replay(self) -> None:
        while True:
            batch = await asyncio.to_thread(self._read, self.last_sent)
            if not batch:
                return
            await self.send_events(batch)

    async def resume(self, last_event_id: int) -> bool:
        head, backlog = await asyncio.to_thread(self._backlog, last_event_id)
        if last_event_id == 0:
            self.last_sent = head
            return True
        if last_event_id > head or backlog > self.hub.options.replay_limit:
            await self.ws.send_text(json.dumps({"type": "resync_required", "head_event_id": head}))
            return False
        self.last_sent = last_event_id
        return True

    async def pump(self) -> None:
        while True:
            batch = await self.sub.get()
            if not self.sub.overflowed.is_set():
                await self.send_events(batch)
                continue
            # We fell behind the live stream: re-read the log from where we are, then go on.
            self.hub.bus.unsubscribe(self.sub)
            self.sub = self.hub.bus.subscribe()
            await self.replay()

    async def handle_client(self, frame: dict[str, Any]) -> None:
        kind = frame.get("type")
        if kind == "ping":
            await self.ws.send_text(json.dumps({"type": "pong"}))
        elif kind == "presence":
            try:
                await asyncio.to_thread(self._set_presence, str(frame.get("presence")))
            except HubError as exc:
                await self.ws.send_text(json.dumps({"type": "error", "message": exc.message}))
        else:
            await self.ws.send_text(json.dumps({"type": "error", "message": f"unknown frame type {kind!r}"}))

    def _set_presence(self, presence: str) -> None:
        self.hub.set_presence(self.caller.agent_id, presence)

    async def heartbeat(self) -> None:
        """Tell the hub this console is alive; when it goes quiet the grace period starts."""
        interval = max(0.5, min(15.0, self.hub.options.routing.presence_grace.total_seconds() / 3))
        while True:
            await asyncio.to_thread(self.hub.heartbeat, self.caller.agent_id)
            await asyncio.sleep(interval)


async def _receive_json(ws: WebSocket) -> dict[str, Any] | None:
    try:
        frame = json.loads(await ws.receive_text())
    except (ValueError, TypeError):
        return None
    return frame if isinstance(frame, dict) else None


@router.websocket("/ws/agent")
async def agent_socket(ws: WebSocket) -> None:
    hub: Hub = ws.app.state.hub
    caller = await asyncio.to_thread(websocket_caller, ws, hub)
    if caller is None:
        await ws.close(code=1008, reason="log in first")  # before accept: the handshake gets HTTP 403
        return
    await ws.accept()
    sock = AgentSocket(ws, hub, caller)
    pump: asyncio.Task[None] | None = None
    beat: asyncio.Task[None] | None = None
    try:
        try:
            first = await asyncio.wait_for(_receive_json(ws), timeout=RESUME_TIMEOUT)
        except TimeoutError:
            await ws.close(code=1008, reason="send resume first")
            return
        last = first.get("last_event_id", 0) if first else None
        if not first or first.get("type") != "resume" or type(last) is not int or last < 0:
            await ws.close(code=1003, reason='first frame: {"type": "resume", "last_event_id": N}, N >= 0')
            return
        if not await sock.resume(last):
            await ws.close(code=4409, reason="resync required")
            return
        await sock.replay()
        await ws.send_text(json.dumps({"type": "ready", "last_event_id": sock.last_sent}))
        pump = asyncio.create_task(sock.pump())
        beat = asyncio.create_task(sock.heartbeat())
        while True:
            frame = await _receive_json(ws)
            if frame is None:
                await ws.send_text(json.dumps({"type": "error", "message": "frames must be JSON objects"}))
                continue
            await sock.handle_client(frame)
    except WebSocketDisconnect:
        pass
    finally:
        for task in (pump, beat):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
        hub.bus.unsubscribe(sock.sub)
