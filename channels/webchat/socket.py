"""The visitor socket: `/ws/widget?widget=<id>`.

The handshake is refused (close 1008 before accepting) unless `Origin` is one of the widget's
allowed origins (or the hub's own): a visitor token stolen from one site is useless elsewhere.

Protocol (JSON text frames, at most MAX_FRAME_CHARS):
- client → `{"type": "hello", "token": T|null, "last_event_id": N, "identity": {...}|null,
  "prechat": {"name", "email"}|null}` first (within HELLO_TIMEOUT). T is the token this widget
  was given before (localStorage); N the last event id it showed (0: everything).
- server → `{"type": "welcome", "token": T'}` (a new token when T was none or not ours), then
  each event of the visitor's conversations after N, `{"type": "event", "id", "event",
  "conversation_id", "at", "data"}` (hub.ports.PublicEvent: their messages, agents' replies with the
  agent's name, who took the chat, resolved, reopened; never notes), replay first, then live.
- client → `{"type": "message", "client_id": C, "text", "files": [REF...]}`: stored once per C
  (a resend after a lost ack is a no-op), then `{"type": "ack", "client_id", "message_id"}`; the
  message also comes back as an event. `files` (optional, at most 5; the text may then be empty):
  what POST /widget/upload answered this visitor (channels/webchat/files.py). A message event's
  `attachments` carry each file's download URL, signed for this visitor for a day. Anything else the frame
  carries (a conversation id...) is ignored: a visitor writes only into their own conversation.
- client → `{"type": "prechat", "name", "email"}` → `{"type": "prechat_ok"}`; `{"type": "ping"}` →
  `{"type": "pong"}`; `{"type": "typing"}` (at most every few seconds): the agents who may read
  the visitor's latest conversation see it.
- client → `{"type": "seen", "conversation_id", "upto"}`: the visitor saw the agents' replies up to
  message `upto` (the widget is open and visible); agents see them marked as seen. Server →
  event "receipt.agent_read" (`data.upto_message_id`): an agent read the visitor's messages so far.
- server → `{"type": "availability", "open", "reason"}` after the welcome and after each message
  when it changed: reason "closed" (outside business hours) or "no_agents"; client →
  `{"type": "email", "email"}` → `{"type": "email_ok", "email"}` (or an `invalid` error;
  `rejected` while someone can chat; `rate_limited`: the message budget): their claimed address,
  where a reply in their chat goes by email when they are no longer on the page (never an address
  their contact is found by: hub/contacts/claims.py; channels/webchat/away.py).
- server → `{"type": "queue", "conversation_id", "position", "wait_minutes"}`: while the visitor's
  conversation waits for an agent, their place (1: next) and an estimate (null: unknown); sent
  when it changes, and with position null once an agent took it (channels/webchat/queue.py).
- client → `{"type": "rate", "conversation_id", "score": 1..5, "comment"?}` once the conversation is
  resolved (the widget asks on `conversation.resolved`) → `{"type": "rated", "conversation_id"}`,
  and the rating comes back as a `conversation.rated` event; refused (`rejected`, field `rating`)
  when not resolved or rated already for this resolution (hub/conversations/ratings.py).
- server → `{"type": "typing", "who": "agent", "name"}`: an agent is typing a reply (hints are
  ephemeral, hub/hints.py: never replayed).
- server → `{"type": "error", "code", "message", "client_id"?, "retry_after"?}`: codes
  `rate_limited` (wait retry_after seconds), `invalid` (with `field`), `rejected` (the hub refused
  the message for good), `unavailable` (try again), `bad_frame`.
Close codes: 1008 origin or widget refused, 4403 identity refused, 1003 bad first frame, 1009 frame
too large, 4429 too many sockets from this address.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import re
from typing import TYPE_CHECKING, Any

from starlette.websockets import WebSocket, WebSocketDisconnect

from channels.webchat import frames
from channels.webchat.away import availability
from channels.webchat.files import MAX_FILES
from channels.webchat.frames import MAX_EVENT_ID
from channels.webchat.identity import Identity, IdentityRefused, check_identity
from channels.webchat.queue import QueueWatch
from channels.webchat.settings import WidgetSettings
from hub.ports import Attachment, ContactRef, HubPort, InboundMessage, PublicEvent, RejectedMessage

if TYPE_CHECKING:
    from channels.webchat.adapter import WebchatChannel

logger = logging.getLogger(__name__)

HELLO_TIMEOUT = 30.0
MAX_FRAME_CHARS = 16_384
CLIENT_ID = re.compile(r"^[A-Za-z0-9_-]{8,64}$")
EMAIL = re.compile(r"^[^@\s]{1,64}@[^@\s]+\.[^@\s]+$")
MAX_NAME = 200
CLOSE_IDENTITY = 4403
CLOSE_TOO_MANY = 4429


class Invalid(ValueError):
    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


def _text_field(value: object, field: str, longest: int) -> str:
    if value is None:
        return ""
    if not isinstance(value, str) or len(value) > longest or "\x00" in value:
        raise Invalid(field, f"{field}: at most {longest} characters of text")
    return value.strip()


def check_prechat(widget: WidgetSettings, given: object) -> dict[str, str]:
    """The pre-chat form's fields, validated: only those the widget asks, the required ones present."""
    if not isinstance(given, dict):
        raise Invalid("form", "the pre-chat form is an object")
    out: dict[str, str] = {}
    for field in widget.prechat_fields:
        value = _text_field(given.get(field), field, 320 if field == "email" else MAX_NAME)
        if field == "email" and value and not EMAIL.match(value):
            raise Invalid("email", "email: not an email address")
        if not value and field in widget.prechat_required:
            raise Invalid(field, f"{field}: required")
        if value:
            out[field] = value
    return out


class VisitorSocket:
    def __init__(self, channel: WebchatChannel, ws: WebSocket, widget: WidgetSettings, port: HubPort,
                 address: str) -> None:
        self.channel, self.ws, self.widget, self.port, self.address = channel, ws, widget, port, address
        self.scope = f"webchat:{widget.id}"
        self.ref = ""
        self.visitor_id = ""
        self.identity: Identity | None = None
        self.prechat: dict[str, str] = {}
        self.contact_id: int | None = None
        self.last_sent = 0
        self.feed: asyncio.Task[None] | None = None
        self.send_lock = asyncio.Lock()
        self.conversations: set[int] = set()  # seen in their feed: theirs
        self.latest: int | None = None  # the conversation their typing is about
        self.told: dict[str, Any] | None = None  # the last availability frame sent
        self.claim: str | None = None  # an address they typed, claimed after their next message
        self.reported: dict[int, int] = {}  # conversation id -> the reply they said they saw up to
        self.hint_send: asyncio.Task[None] | None = None
        self.queue = QueueWatch(port, self.send, channel.settings.queue_refresh_seconds)

    async def run(self) -> None:
        try:
            hello = await asyncio.wait_for(self._receive(), HELLO_TIMEOUT)
        except (TimeoutError, ValueError):
            await self.ws.close(1003, "send a hello frame first")
            return
        if hello.get("type") != "hello":
            await self.ws.close(1003, "send a hello frame first")
            return
        if not await self._hello(hello):
            return
        try:
            while True:
                try:
                    frame = await self._receive()
                except ValueError as exc:
                    await self.error("bad_frame", str(exc))
                    continue
                await self._handle(frame)
        finally:
            await self.queue.close()
            await self._unfollow()
            self.channel.unwatch(self.conversations, self)

    async def _hello(self, hello: dict[str, Any]) -> bool:
        try:
            self.identity = check_identity(self.widget, hello.get("identity"))
        except IdentityRefused as exc:
            await self.ws.close(CLOSE_IDENTITY, str(exc))
            return False
        token = hello.get("token")
        visitor_id = self.channel.tokens.visitor_of(self.widget.id, token)
        if visitor_id is None:
            visitor_id, token = self.channel.tokens.mint(self.widget.id)
        # A signed user is the same customer on every device; an anonymous visitor is their browser.
        self.visitor_id = visitor_id
        self.ref = f"user:{self.identity.identifier}" if self.identity else f"visitor:{visitor_id}"
        if hello.get("prechat"):
            with contextlib.suppress(Invalid):  # a stale stored form: asked again by the widget
                self.prechat = check_prechat(self.widget, hello["prechat"])
                self.claim = self.prechat.get("email")
        last = hello.get("last_event_id")
        self.last_sent = last if isinstance(last, int) and 0 <= last <= MAX_EVENT_ID else 0
        await self.send({"type": "welcome", "token": token})
        await self._follow(await self.port.find_contact_async(self.scope, self.ref))
        await self._availability()
        return True

    async def _handle(self, frame: dict[str, Any]) -> None:
        kind = frame.get("type")
        if kind == "message":
            await self._message(frame)
        elif kind == "prechat":
            try:
                self.prechat = check_prechat(self.widget, frame)
                self.claim = self.prechat.get("email")
            except Invalid as exc:
                await self.error("invalid", str(exc), field=exc.field)
                return
            await self.send({"type": "prechat_ok"})
        elif kind == "typing":
            if self.latest is not None and self.channel.typing_limit.take((self.scope, self.ref)) == 0:
                await self.port.customer_typing_async(self.latest)
        elif kind == "email":
            await frames.email(self, frame)
        elif kind == "seen":
            await frames.seen(self, frame)
        elif kind == "ping":
            await self.send({"type": "pong"})
        elif kind == "rate":
            await frames.rate(self, frame)
        else:
            await self.error("bad_frame", "unknown frame type")

    async def _availability(self) -> None:
        """Tell the widget whether anyone can chat now (channels/webchat/away.py), when it changed."""
        try:
            frame = await availability(self.port, self.widget)
        except Exception:
            logger.exception("web chat availability of widget %s", self.widget.id)
            return
        if frame != self.told:
            self.told = frame
            await self.send(frame)

    async def _message(self, frame: dict[str, Any]) -> None:
        client_id = frame.get("client_id")
        if not isinstance(client_id, str) or not CLIENT_ID.match(client_id):
            await self.error("invalid", "client_id: 8 to 64 letters, digits, - or _", field="client_id")
            return
        try:
            text = _text_field(frame.get("text"), "text", self.channel.settings.max_text_chars)
        except Invalid as exc:
            await self.error("invalid", str(exc), field="text", client_id=client_id)
            return
        files = self._files(frame.get("files"))
        if files is None:
            await self.error("invalid", f"files: at most {MAX_FILES} of those uploaded here", field="files",
                              client_id=client_id)
            return
        if not text and not files:
            await self.error("invalid", "text: empty", field="text", client_id=client_id)
            return
        wait = max(self.channel.visitor_messages.take((self.scope, self.ref)),
                   self.channel.address_messages.take(self.address))
        if wait > 0:
            await self.error("rate_limited", "too many messages: wait a moment", client_id=client_id,
                              retry_after=round(wait, 1))
            return
        try:
            result = await self.port.ingest_async(self._inbound(client_id, text, files))
        except RejectedMessage as exc:
            await self.error("rejected", str(exc), client_id=client_id)
            return
        except Exception:
            logger.exception("web chat message %s of widget %s not stored", client_id, self.widget.id)
            await self.error("unavailable", "not stored: try again", client_id=client_id)
            return
        await self.send({"type": "ack", "client_id": client_id, "message_id": result.message_id})
        if result.contact_id != self.contact_id:  # their first message, or merged since
            await self._follow(result.contact_id)
        await frames.claim(self)
        await self._availability()

    def _files(self, refs: object) -> tuple[Attachment, ...] | None:
        """The files a message frame names, each uploaded by this visitor; None if any is not."""
        if refs is None:
            return ()
        if not isinstance(refs, list) or len(refs) > MAX_FILES:
            return None
        found = [self.channel.files.attachment_of(self.widget.id, self.visitor_id, ref) for ref in refs]
        return None if None in found else tuple(a for a in found if a is not None)

    def _inbound(self, client_id: str, text: str, files: tuple[Attachment, ...] = ()) -> InboundMessage:
        identity, form = self.identity, self.prechat
        # The token proves the visitor is this browser, the site's signature their user id and
        # email. A typed email proves nothing: it never goes with the message (it would become an
        # address their contact is found by); it is claimed after it (frames.claim).
        email = identity.email if identity is not None else None
        verified = {"external_ref", "email"} if email else {"external_ref"}
        contact = ContactRef(external_ref=self.ref, email=email, name=form.get("name"), verified=frozenset(verified))
        return InboundMessage(channel="webchat", source=self.widget.source, ingest_scope=self.scope,
                              external_id=f"{self.ref}:{client_id}", contact=contact, text=text, attachments=files,
                              metadata={"webchat": {"widget": self.widget.id}})

    async def _follow(self, contact_id: int | None) -> None:
        await self._unfollow()
        if contact_id is None:
            return
        self.contact_id = contact_id
        self.channel.following(contact_id, +1)
        self.feed = asyncio.create_task(self._pump(contact_id, self.last_sent), name=f"webchat-feed-{contact_id}")

    async def _unfollow(self) -> None:
        if self.feed is not None:
            self.feed.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self.feed
            self.feed = None
        if self.contact_id is not None:
            self.channel.following(self.contact_id, -1)
            self.contact_id = None

    async def _pump(self, contact_id: int, after: int) -> None:
        try:
            async for event in self.port.customer_feed(contact_id, after):
                if event.id > self.last_sent:
                    await self.send(self._frame_of(event))
                    self.last_sent = event.id
                if event.conversation_id not in self.conversations:
                    self.conversations.add(event.conversation_id)
                    self.channel.watch(event.conversation_id, self)
                if event.type == "message.created":
                    self.latest = event.conversation_id
                await self._queue_after(event)
        except (WebSocketDisconnect, RuntimeError):
            return  # the socket closed under us: the receive loop ends too
        except Exception:
            logger.exception("web chat feed of contact %s failed", contact_id)
            with contextlib.suppress(Exception):
                await self.ws.close(1011, "feed failed: reconnect")

    async def _queue_after(self, event: PublicEvent) -> None:
        """Keep the visitor's place in the queue current (channels/webchat/queue.py)."""
        if event.type in ("conversation.assigned", "conversation.resolved"):
            await self.queue.ended(event.conversation_id)
        elif event.type == "conversation.reopened" or (
                event.type == "message.created" and event.data.get("direction") == "in"):
            self.queue.poke(event.conversation_id)

    def agent_typing(self, agent_name: str) -> None:
        """An agent types in one of this visitor's conversations (hub/hints.py): told if not busy."""
        if self.hint_send is None or self.hint_send.done():
            self.hint_send = asyncio.get_running_loop().create_task(self._hint(agent_name))

    async def _hint(self, agent_name: str) -> None:
        with contextlib.suppress(Exception):  # a socket closing: the hint did not matter
            await self.send({"type": "typing", "who": "agent", "name": agent_name})

    async def _receive(self) -> dict[str, Any]:
        raw = await self.ws.receive_text()
        if len(raw) > MAX_FRAME_CHARS:
            await self.ws.close(1009, "frame too large")
            raise WebSocketDisconnect(1009)
        try:
            frame = json.loads(raw)
        except json.JSONDecodeError:
            raise ValueError("not JSON") from None
        if not isinstance(frame, dict):
            raise ValueError("not a JSON object")
        return frame

    async def send(self, frame: dict[str, Any]) -> None:
        async with self.send_lock:  # the feed and the receive loop both send
            await self.ws.send_text(json.dumps(frame, separators=(",", ":"), default=str))

    async def error(self, code: str, message: str, **extra: Any) -> None:
        await self.send({"type": "error", "code": code, "message": message, **extra})

    def _frame_of(self, event: PublicEvent) -> dict[str, Any]:
        data = event.data
        if data.get("attachments"):  # each with its download URL for this visitor (never the agents' one)
            links = (self.channel.files.link(self.widget.id, self.visitor_id, a) for a in data["attachments"])
            data = {**data, "attachments": [a for a in links if a is not None]}
        return {"type": "event", "id": event.id, "event": event.type, "conversation_id": event.conversation_id,
                "at": event.at.isoformat(), "data": data}
