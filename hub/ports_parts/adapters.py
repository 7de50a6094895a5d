"""A channel adapter (`ChannelAdapter`, with `BaseAdapter` to start from) and the `TaskRunner` that
runs its inbound work."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from hub.ports_parts.accounts import AccountCheck, ChannelAccount
from hub.ports_parts.errors import PermanentError
from hub.ports_parts.hub_port import HubPort
from hub.ports_parts.outbound import EntryPoint, Outbound, OutboundMessage, SendResult


@dataclass(frozen=True)
class Embed:
    """What a site owner pastes into their pages to offer a channel there (web chat: one widget's
    `<script>` line), as admins see it in the console's settings. `demo_url`: a page showing it
    working (None if there is none)."""

    id: str
    name: str
    snippet: str
    allowed_origins: tuple[str, ...] = ()
    team: str | None = None
    identity_required: bool = False
    demo_url: str | None = None


class TaskRunner(Protocol):
    """Runs an adapter's inbound work (given to `ChannelAdapter.start`; hub.channel_tasks)."""

    def spawn(self, name: str, run: Callable[[], Awaitable[None]]) -> None:
        """Run `run()` until the channel stops. When it raises (or returns), it is started again
        after a backoff (1 s, doubling up to 60 s; back to 1 s once it ran a minute), and its state
        (running, restarting, stopped; restarts; last error) is shown to admins. `name` is unique
        within the channel."""
        ...


class ChannelAdapter(Protocol):
    """A channel, as the registry (config/channels.py) sets it up and the delivery worker uses it."""

    channel: str  # "sms", "email", "webchat", "voice", "api", ...
    @property
    def address_kind(self) -> str | None:
        """The contact identity kind this channel addresses customers by ("phone", "email"), or
        None when the adapter finds its recipients itself (from the item's source or metadata).
        The hub fills `Outbound.to` from it, and finds the contact of `HubPort.set_opt_out_async`
        by it. (Read only: a plain class attribute satisfies it.)"""
        ...

    def routes(self) -> Sequence[Any]:
        """The ASGI routes the app mounts (`APIRouter(...).routes`); [] if none. Called before
        `start`: a request arriving before it (or after `stop`) must be answered, not crash."""
        ...

    async def start(self, port: HubPort, tasks: TaskRunner) -> None:
        """Begin inbound work: keep `port`, spawn long-running work through `tasks`. Called once,
        after the hub started."""
        ...

    async def stop(self) -> None:
        """Stop inbound work and close clients. Called after the runner cancelled the tasks it
        spawned; idempotent (a second call, or one without `start`, does nothing)."""
        ...

    async def send(self, item: Outbound) -> SendResult:
        """May be called before `start` and after `stop` (the delivery worker runs from the hub's
        start to its stop): answer, or raise `TransientError` to be tried again later."""
        ...

    async def accounts_changed(self) -> None:
        """Admins changed this channel's stored accounts (`HubPort.channel_accounts_async`): take
        them up (restart what changed). Called in the process that wrote them, after the commit."""
        ...

    async def check_account(self, account: ChannelAccount, lang: str) -> list[AccountCheck]:
        """Try an account's servers without sending or reading anything ("test connection")."""
        ...


class BaseAdapter:
    """No routes, no inbound work: a channel overrides what it has (and `send`). `port` is the
    `HubPort` once started, None before."""

    channel: str
    address_kind: str | None = None
    port: HubPort | None = None

    def routes(self) -> Sequence[Any]:
        return []

    async def start(self, port: HubPort, tasks: TaskRunner) -> None:
        self.port = port

    async def stop(self) -> None:
        return None

    async def send(self, item: Outbound) -> SendResult:
        raise PermanentError(f"the {self.channel} channel sends nothing")

    def sources(self) -> tuple[EntryPoint, ...]:
        """The entry points an agent may start a conversation from, the default first; () when
        the channel lists none (any `source` then goes to `send` as given). Optional."""
        return ()

    def embeds(self) -> tuple[Embed, ...]:
        """What site owners paste to put this channel on their pages; () when nothing. Optional
        (the console's settings ask only adapters that have it)."""
        return ()

    def send_key(self, item: OutboundMessage) -> str | None:
        """The id `item` will be sent under on every attempt (email: its Message-ID), or None.
        Optional (the delivery worker asks only adapters that have it). Called once, in the
        transaction that first claims the item, which stores it with the outbox row: it must be
        quick and must not fail (None when it cannot tell). The worker then passes it as
        `OutboundMessage.send_key`, and never sends again an item whose key it saw accepted."""
        return None

    async def accounts_changed(self) -> None:
        return None

    async def check_account(self, account: ChannelAccount, lang: str) -> list[AccountCheck]:
        return []
