"""The agent websocket: `/ws/agent`.

Protocol (JSON text frames):
- client → `{"type": "resume", "last_event_id": N}` first. N = 0 means "from now on".
- server → every event after N the agent may see, in id order, each as
  `{"id", "type", "conversation_id", "contact_id", "actor_agent_id", "at", "data"}`;
  then `{"type": "ready", "last_event_id": M}`; then live events as they commit.
- server → `{"type": "resync_required", "head_event_id": H}` when N is unknown or too far behind
  to replay: reload state through the API, then resume from H.
- client → `{"type": "presence", "presence": "online"|"away"|"offline"}` (at most a few a second
  per agent, REST and socket together: `agents_ui/presence.py`), `{"type": "ping"}`,
  `{"type": "typing", "conversation_id": C, "mode": "reply"|"note"}` (typing a reply, the default:
  the customer's widget shows it, if the agent may reply there; other agents with C open see a
  reply or a note being typed; at most one every TYPING_EVERY seconds counts),
  `{"type": "viewing", "conversation_id": C|null}` (collision presence: agents_ui/ws_collision.py),
  `{"type": "customer", "contact_id": C|null}` (the sidebar's customer, whose events it then also
  receives, answered with the same frame: agents_ui/ws_customer.py); anything
  else, or a frame that is not a JSON object, gets `{"type": "error", "message"}` and the socket goes on.
Events are sent exactly once per connection and in order: ids at or below the last one sent are
dropped. Not events: `{"type": "typing", "conversation_id", "who": "customer"}`, a hint (hub/hints.py)
for a conversation the agent may read; `viewers` and `{"type": "typing", "who": "agent"}` for the
conversation the console has open (hub/viewers.py); never replayed.

Close codes: 1008 not logged in (or no resume in time), 1003 a bad first frame, 1009 a frame over
`MAX_FRAME_CHARS`, 4401 the session ended (logout, password change, deactivation, expiry),
4409 resync required.

The socket is only as good as its session: it re-reads its caller (role, teams, whether the token
still holds) when the log says something changed about its agent (`SESSION_EVENTS`, from any
node) and at least every `SESSION_CHECK_SECONDS` (changes made without an event, such as a
password set from the CLI, and the token's expiry).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from datetime import datetime
from typing import Any

from fastapi import APIRouter, WebSocket, WebSocketDisconnect

from agents_ui.deps import Caller, read_caller, token_from
from agents_ui.presence import PresenceThrottle, presence_throttle
from agents_ui.ws_collision import MAX_CONVERSATION_ID, CollisionPresence
from agents_ui.ws_customer import FollowedCustomer
from agents_ui.ws_frames import MAX_FRAME_CHARS, FrameTooLarge, receive_frame
from hub.clock import utcnow
from hub.errors import HubError
from hub.events import log
from hub.events.fanout import Subscription
from hub.events.log import EventView
from hub.events.visibility import can_see
from hub.hints import CustomerTyping
from hub.runtime import Hub

router = APIRouter()
logger = logging.getLogger(__name__)
RESUME_TIMEOUT = 30.0
SESSION_CHECK_SECONDS = 30.0
LOG_IN_FIRST = "log in first: send the session cookie or an Authorization: Bearer token"
CLOSE_SESSION_ENDED = 4401
# Event ids are 64-bit in the database; a larger one cannot be compared there.
MAX_EVENT_ID = 2**63 - 1
# Events about an agent after which their sockets read their caller again.
TYPING_EVERY = 2.0
SESSION_EVENTS = frozenset({"agent.updated", "agent.session_ended", "team.member_added", "team.member_removed"})


class SessionEnded(Exception):
    """The socket's token no longer names an active agent."""


class AgentSocket:
    def __init__(self, ws: WebSocket, hub: Hub, caller: Caller, expires_at: datetime) -> None:
        self.ws = ws
        self.hub = hub
        self.caller = caller
        self.expires_at = expires_at
        self.last_sent = 0
        self.throttle: PresenceThrottle = presence_throttle(hub)
        # Subscribe before reading the log, so nothing committed in between is missed.
        self.sub: Subscription = hub.bus.subscribe()
        self.stop_hints = hub.hints.on_customer_typing(self.customer_typing)
        self.hint_sends: set[asyncio.Task[None]] = set()
        self.typed_at: dict[tuple[int, str], float] = {}
        self.collision = CollisionPresence(hub, lambda: self.caller, self.send_hint)
        self.customer = FollowedCustomer(hub, lambda: self.caller)

    def send_hint(self, frame: str) -> None:
        if len(self.hint_sends) > 8:
            return  # a console that is not reading its socket gets no more hints
        task = asyncio.get_running_loop().create_task(self.ws.send_text(frame))
        self.hint_sends.add(task)
        task.add_done_callback(self.hint_sends.discard)

    def customer_typing(self, hint: CustomerTyping) -> None:
        if self.caller.scope.can_see_conversation(hint.team_id, hint.assignee_id):
            self.send_hint(json.dumps({"type": "typing", "conversation_id": hint.conversation_id, "who": "customer"}))

    async def agent_typing(self, conversation_id: object, mode: object) -> None:
        if type(conversation_id) is not int or not 0 < conversation_id <= MAX_CONVERSATION_ID:
            await self.error("typing: conversation_id must be a conversation's id")
            return
        if mode not in ("reply", "note"):
            await self.error('typing: mode must be "reply" or "note"')
            return
        now = time.monotonic()
        if now - self.typed_at.get((conversation_id, mode), 0.0) < TYPING_EVERY:
            return
        self.typed_at = {c: at for c, at in self.typed_at.items() if now - at < TYPING_EVERY}
        self.typed_at[(conversation_id, mode)] = now
        found = await asyncio.to_thread(self.collision.work_of, conversation_id)
        if found is None or not self.caller.scope.can_see_conversation(*found):
            return
        self.collision.typing(conversation_id, mode, found)
        if mode == "reply" and self.caller.scope.can_act(*found):
            self.hub.hints.agent_typing(conversation_id, self.caller.name)

    async def send_events(self, events: list[EventView]) -> None:
        for ev in events:
            if ev.id <= self.last_sent:
                continue
            if ev.conversation_id is None and ev.type in SESSION_EVENTS \
                    and ev.payload.get("agent_id") == self.caller.agent_id:
                # Before this event is sent and the next ones are judged: they see the new scope.
                await self.check_session()
            self.last_sent = ev.id
            if can_see(self.caller.scope, ev) or self.customer.sees(ev):
                await self.ws.send_text(ev.wire_json)

    async def check_session(self) -> None:
        found = await asyncio.to_thread(read_caller, self.hub, self.caller.token)
        if found is None:
            raise SessionEnded
        self.caller, self.expires_at = found
        await self.customer.recheck()

    async def watch_session(self) -> None:
        """Changes that leave no event (a token expiring, a password set from the CLI)."""
        while True:
            left = (self.expires_at - utcnow()).total_seconds()
            await asyncio.sleep(max(0.0, min(SESSION_CHECK_SECONDS, left)))
            await self.check_session()

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

    async def error(self, message: str) -> None:
        await self.ws.send_text(json.dumps({"type": "error", "message": message}))

    async def read_client(self) -> None:
        while True:
            frame = await receive_frame(self.ws)
            if frame is None:
                await self.error("frames must be JSON objects")
                continue
            await self.handle_client(frame)

    async def handle_client(self, frame: dict[str, Any]) -> None:
        kind = frame.get("type")
        if kind == "ping":
            await self.ws.send_text(json.dumps({"type": "pong"}))
        elif kind == "typing":
            await self.agent_typing(frame.get("conversation_id"), frame.get("mode", "reply"))
        elif kind == "viewing":
            if (problem := await self.collision.view(frame.get("conversation_id"))) is not None:
                await self.error(problem)
        elif kind == "customer":
            answer, problem = await self.customer.follow(frame.get("contact_id"))
            if answer is not None:
                await self.ws.send_text(answer)
            if problem is not None:
                await self.error(problem)
        elif kind == "presence":
            try:
                self.throttle.spend(self.caller.agent_id)  # the same budget as the REST route's
                await asyncio.to_thread(self._set_presence, str(frame.get("presence")))
            except HubError as exc:
                await self.error(exc.message)
        else:
            await self.error(f"unknown frame type {str(kind)[:40]!r}")

    def _set_presence(self, presence: str) -> None:
        self.hub.set_presence(self.caller.agent_id, presence)

    async def heartbeat(self) -> None:
        """Tell the hub this console is alive; when it goes quiet the grace period starts."""
        interval = max(0.5, min(15.0, self.hub.options.routing.presence_grace.total_seconds() / 3))
        while True:
            await asyncio.to_thread(self.hub.heartbeat, self.caller.agent_id)
            self.hub.viewers.sweep()
            await asyncio.sleep(interval)

    async def serve(self) -> None:
        """Live events, the console's frames, the heartbeat and the session watch, until one ends
        (a disconnect, an ended session); its exception is raised here."""
        tasks = [asyncio.create_task(c) for c in (self.pump(), self.read_client(), self.heartbeat(),
                                                  self.watch_session())]
        try:
            done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in tasks:
                task.cancel()
            for task in tasks:
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
        for task in done:
            if (exc := task.exception()) is not None:
                raise exc

    async def run(self) -> None:
        try:
            first = await asyncio.wait_for(receive_frame(self.ws), timeout=RESUME_TIMEOUT)
        except TimeoutError:
            await self.ws.close(code=1008, reason="send resume first")
            return
        last = first.get("last_event_id", 0) if first else None
        if not first or first.get("type") != "resume" or type(last) is not int or not 0 <= last <= MAX_EVENT_ID:
            await self.ws.close(code=1003, reason='first frame: {"type": "resume", "last_event_id": N}, N >= 0')
            return
        if not await self.resume(last):
            await self.ws.close(code=4409, reason="resync required")
            return
        await self.replay()
        await self.ws.send_text(json.dumps({"type": "ready", "last_event_id": self.last_sent}))
        await self.serve()


@router.websocket("/ws/agent")
async def agent_socket(ws: WebSocket) -> None:
    hub: Hub = ws.app.state.hub
    token = token_from(ws.headers, ws.cookies)
    found = await asyncio.to_thread(read_caller, hub, token) if token else None
    # Accepted before it is refused: a close before the handshake reaches a browser as a bare HTTP
    # 403 (code 1006 in its close event), without the reason a console could show.
    await ws.accept()
    if found is None:
        await ws.close(code=1008, reason=LOG_IN_FIRST)
        return
    sock = AgentSocket(ws, hub, *found)
    try:
        await sock.run()
    except SessionEnded:
        await ws.close(code=CLOSE_SESSION_ENDED, reason="session ended: log in again")
    except FrameTooLarge:
        await ws.close(code=1009, reason=f"frames are limited to {MAX_FRAME_CHARS} characters")
    except WebSocketDisconnect:
        pass
    except Exception:
        logger.exception("agent socket failed")
        with contextlib.suppress(Exception):
            await ws.close(code=1011, reason="the hub hit an internal error; reconnect")
    finally:
        hub.bus.unsubscribe(sock.sub)
        sock.stop_hints()
        sock.collision.close()
