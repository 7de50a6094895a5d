"""The web chat channel: widgets on customers' sites, a visitor socket each, replies shown live.

Inbound, a visitor's socket (channels/webchat/socket.py) ingests their messages through the port
and follows their contact's `customer_feed`: the replay after the last event the widget saw, then
live events. Outbound there is nothing to carry: an agent's reply is in the event log already and
reaches every socket of that customer through their feed, so `send` only reports whether one is
open ("delivered") or not ("sent": the widget shows it when the visitor comes back; the hub
also hands it to `away_channel`, email, when the visitor left an address).

Per process it keeps the sockets open per contact (for `send`) and the rate limits.
"""

from __future__ import annotations

import logging
import secrets
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING, Any

from channels.webchat.files import FileRefs
from channels.webchat.identity import VisitorTokens
from channels.webchat.limits import RateLimit
from channels.webchat.routes import router_for
from channels.webchat.settings import WebchatSettings, WidgetSettings
from hub.ports import (
    BaseAdapter,
    ClientAddresses,
    Embed,
    HubPort,
    Outbound,
    OutboundMessage,
    PermanentError,
    SendResult,
    TaskRunner,
    origin_of,
)

if TYPE_CHECKING:
    from channels.webchat.socket import VisitorSocket

logger = logging.getLogger(__name__)

CHANNEL = "webchat"


class WebchatChannel(BaseAdapter):
    channel = CHANNEL
    address_kind = None  # nothing to address: the reply travels through the customer's feed

    def __init__(self, settings: WebchatSettings, *, public_url: str, token_key: str | None = None,
                 trusted_proxies: Sequence[str] = ()) -> None:
        self.settings = settings
        self.widgets = {w.id: w for w in settings.widgets}
        self.public_origin = origin_of(public_url)
        if token_key is None:
            logger.warning("HUB_SECRET_KEY is not set: web chat visitors are forgotten when the hub restarts")
        key = (token_key or secrets.token_hex(32)).encode()
        self.tokens = VisitorTokens(key)
        self.files = FileRefs(key)  # signed apart from tokens: each names its purpose in what it signs
        self.addresses = ClientAddresses(trusted_proxies)
        s = settings
        self.visitor_messages = RateLimit(s.visitor_messages_per_10s, 10.0)
        self.address_messages = RateLimit(s.address_messages_per_10s, 10.0)
        self.typing_limit = RateLimit(s.typing_per_10s, 10.0)
        self.connections = RateLimit(s.address_connections_per_minute, 60.0)
        self.visitor_uploads = RateLimit(s.visitor_uploads_per_minute, 60.0)
        self.address_uploads = RateLimit(s.address_uploads_per_minute, 60.0)
        self.open_sockets: Counter[int] = Counter()  # contact id -> sockets following them here
        # conversation id -> the sockets whose feed showed it: where an agent's typing is shown
        self.watchers: dict[int, set[VisitorSocket]] = {}
        self._stop_typing: Callable[[], None] | None = None

    def routes(self) -> Sequence[Any]:
        return router_for(self).routes

    async def start(self, port: HubPort, tasks: TaskRunner) -> None:
        self.port = port
        self._stop_typing = port.on_agent_typing(self.agent_typing)

    async def stop(self) -> None:
        self.port = None
        if self._stop_typing is not None:
            self._stop_typing()
            self._stop_typing = None

    def agent_typing(self, conversation_id: int, agent_name: str) -> None:
        for sock in list(self.watchers.get(conversation_id, ())):
            sock.agent_typing(agent_name)

    def watch(self, conversation_id: int, sock: VisitorSocket) -> None:
        self.watchers.setdefault(conversation_id, set()).add(sock)

    def unwatch(self, conversation_ids: Iterable[int], sock: VisitorSocket) -> None:
        for conversation_id in conversation_ids:
            watching = self.watchers.get(conversation_id)
            if watching is not None:
                watching.discard(sock)
                if not watching:
                    del self.watchers[conversation_id]

    async def send(self, item: Outbound) -> SendResult:
        if not isinstance(item, OutboundMessage):
            raise PermanentError("a web chat visitor cannot be called")
        contact_id = item.metadata.get("contact_id")
        live = isinstance(contact_id, int) and self.open_sockets[contact_id] > 0
        # Not on the page (here): the hub may send it by email too (hub/delivery/hand_over.py).
        away = None if live else self.settings.away_channel
        return SendResult(provider_id=f"webchat-{item.outbox_id}", status="delivered" if live else "sent",
                          hand_over=away)

    def embeds(self) -> tuple[Embed, ...]:
        """Each widget's line for a site's pages, under the hub's public URL (a relative src when
        it has none: the console puts its own origin in front). The demo page shows the first."""
        base = self.public_origin or ""
        return tuple(Embed(id=w.id, name=w.name, team=w.team, identity_required=w.require_identity,
                           allowed_origins=tuple(w.allowed_origins),
                           snippet=f'<script src="{base}/widget/loader.js" data-widget="{w.id}" async></script>',
                           demo_url=f"{base}/widget/demo" if i == 0 and self.settings.demo_page else None)
                     for i, w in enumerate(self.settings.widgets))

    def allowed_origin(self, widget: WidgetSettings, origin: str | None, host: str | None) -> str | None:
        """The request's origin if this widget may be used from it, else None: one of the widget's
        allowed origins, the hub's public URL's or the hub's own Host's (its demo page)."""
        seen = origin_of(origin) if origin else None
        if seen is None:
            return None
        own = {self.public_origin} | ({origin_of(f"http://{host}"), origin_of(f"https://{host}")} if host else set())
        allowed = own | {origin_of(o) for o in widget.allowed_origins}
        return seen if seen in allowed else None

    def following(self, contact_id: int, delta: int) -> None:
        self.open_sockets[contact_id] += delta
        if self.open_sockets[contact_id] <= 0:
            del self.open_sockets[contact_id]
