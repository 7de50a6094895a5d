"""The channel registry: every enabled channel, built from settings, then mounted, started, stopped.

Built in: the API channel (always), SMS (when Twilio is configured), web chat (unless
`webchat.enabled` is false; a demo widget by default), email (when a mailbox is in the settings or
stored by an admin, or the SMTP listener is on; otherwise dormant until the first one is stored),
the demo channel (always: inert unless `hub demo` made conversations on it). Then each
`extra_channels` entry, a
"module:factory" path whose `factory(settings)` returns a `ChannelAdapter`: a channel that lives
outside this repository's `channels/` is added by settings alone. The app mounts their routes
ahead of the console's, starts them after the hub (each with its own `TaskRunner`) and stops them
before it.
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import Callable, Sequence
from typing import Any

from channels.api.adapter import ApiChannel
from channels.demo.adapter import DemoChannel
from channels.email.adapter import EmailAdapter
from channels.email.settings import EmailSettings, ImapServer, Mailbox, SmtpListener, SmtpServer
from channels.sms.adapter import TwilioSmsAdapter
from channels.sms.settings import SmsSettings
from channels.webchat.adapter import WebchatChannel
from config.demo import customer_lookup
from config.secrets import derive_key, hub_secret
from config.settings import EmailMailboxSettings, Settings
from hub.channel_accounts.actions import list_accounts
from hub.channel_tasks import ChannelState, ChannelTasks
from hub.ports import ChannelAdapter, HubPort, TaskRunner
from hub.runtime import Hub

logger = logging.getLogger(__name__)

Factory = Callable[[Settings], ChannelAdapter]


def sms_settings(settings: Settings) -> SmsSettings:
    t = settings.twilio
    return SmsSettings(account_sid=t.account_sid, auth_token=t.auth_token, numbers=tuple(t.numbers),
                       messaging_service_sid=t.messaging_service_sid, api_base_url=t.api_base_url,
                       public_url=settings.public_url, validate_signatures=t.validate_signatures,
                       webhook_max_bytes=t.webhook_max_bytes, webhook_max_fields=t.webhook_max_fields,
                       trusted_proxies=tuple(settings.trusted_proxies))


def email_settings(settings: Settings) -> EmailSettings:
    e = settings.email
    return EmailSettings(
        mailboxes=tuple(mailbox(m, e.max_bytes) for m in e.mailboxes),
        listener=SmtpListener(enabled=e.listener_enabled, host=e.listener_host, port=e.listener_port,
                              max_bytes=e.max_bytes),
        secret=derive_key(hub_secret(settings), "email-ids"))


def mailbox(m: EmailMailboxSettings, max_bytes: int) -> Mailbox:
    imap = None
    if m.imap is not None:
        imap = ImapServer(host=m.imap.host, port=m.imap.port, tls=m.imap.tls, starttls=m.imap.starttls,
                          username=m.imap.username, password=m.imap.password, folder=m.imap.folder,
                          poll_seconds=m.imap.poll_seconds, ca_file=m.imap.ca_file, max_bytes=max_bytes,
                          sent_folder=m.imap.sent_folder, append_sent=m.imap.append_sent)
    s = m.smtp
    return Mailbox(address=m.address, display_name=m.display_name, signature=m.signature, language=m.language,
                   subject_token=m.subject_token, imap=imap, authserv_id=m.authserv_id,
                   smtp=SmtpServer(host=s.host, port=s.port, tls=s.tls, starttls=s.starttls, username=s.username,
                                   password=s.password, timeout_seconds=s.timeout_seconds))


def email_wanted(settings: Settings, hub: Hub) -> bool:
    """Email is on with a mailbox in the settings or stored (or the listener on). Before the
    database has its tables (a first `hub db upgrade`), only the settings count."""
    if settings.email.mailboxes or settings.email.listener_enabled:
        return True
    try:
        with hub.db.read() as s:
            return bool(list_accounts(s, "email"))
    except Exception:  # noqa: BLE001  (no table yet: nothing stored)
        logger.warning("stored email mailboxes could not be read: the email channel starts only if configured")
        return False


def built_in(settings: Settings, hub: Hub) -> list[ChannelAdapter]:
    api = settings.api_channel
    adapters: list[ChannelAdapter] = [
        ApiChannel(api.callbacks, secret=api.callback_secret, timeout=api.timeout_seconds)]
    sms = sms_settings(settings)
    if sms.configured:
        adapters.append(TwilioSmsAdapter(sms))
    if settings.webchat.enabled:
        # From the hub's kept secret (config/secrets.py): a returning visitor's token outlives a restart
        # of a hub started without HUB_SECRET_KEY (`make run`).
        token_key = derive_key(hub_secret(settings), "webchat-visitor-tokens").hex()
        adapters.append(WebchatChannel(settings.webchat, public_url=settings.public_url,
                                       token_key=token_key, trusted_proxies=settings.trusted_proxies))
    adapters.append(DemoChannel(customer_lookup(hub.db)))
    return adapters


def load_factory(path: str) -> Factory:
    """The callable a "module:factory" path names."""
    module_name, _, attr = path.partition(":")
    try:
        factory = getattr(importlib.import_module(module_name), attr)
    except (ImportError, AttributeError) as exc:
        raise ValueError(f"extra_channels: {path!r} names nothing to import ({exc})") from exc
    if not callable(factory):
        raise ValueError(f"extra_channels: {path!r} is not callable")
    return factory


class Channels:
    """The enabled channels of one process, and the supervisor of their inbound tasks. A `dormant`
    channel (email without a mailbox yet) is switched on when admins store its first account."""

    def __init__(self, adapters: Sequence[ChannelAdapter], tasks: ChannelTasks | None = None, *,
                 dormant: Sequence[ChannelAdapter] = (),
                 on_enable: Callable[[ChannelAdapter], None] | None = None) -> None:
        names = [a.channel for a in (*adapters, *dormant)]
        if dupes := sorted({n for n in names if names.count(n) > 1}):
            raise ValueError(f"two channels are named {', '.join(dupes)}")
        self.adapters = tuple(adapters)
        self.tasks = tasks or ChannelTasks()
        # Listed now, so /readyz and the admin list name every channel before they start.
        self._runners: dict[str, TaskRunner] = {a.channel: self.tasks.runner(a.channel) for a in adapters}
        self._started: list[ChannelAdapter] = []
        self._dormant = {a.channel: a for a in dormant}
        self._on_enable = on_enable
        self._port: HubPort | None = None

    def routes(self) -> list[Any]:
        return [route for adapter in self.adapters for route in adapter.routes()]

    async def start(self, port: HubPort) -> None:
        self._port = port
        for adapter in self.adapters:
            self._started.append(adapter)
            await adapter.start(port, self._runners[adapter.channel])

    async def stop(self) -> None:
        """In reverse order: each channel's tasks are cancelled, then the adapter stops. One that
        fails to stop is logged; the others still stop."""
        while self._started:
            adapter = self._started.pop()
            await self.tasks.stop_channel(adapter.channel)
            try:
                await adapter.stop()
            except Exception:
                logger.exception("the %s channel did not stop cleanly", adapter.channel)

    async def accounts_changed(self, channel: str) -> None:
        """Admins changed `channel`'s stored accounts: a dormant channel starts, a running one
        takes them up."""
        if channel in self._dormant and self._port is not None:
            adapter = self._dormant.pop(channel)
            self.adapters += (adapter,)
            self._runners[channel] = self.tasks.runner(channel)
            if self._on_enable is not None:
                self._on_enable(adapter)
            self._started.append(adapter)
            await adapter.start(self._port, self._runners[channel])
            return
        for adapter in self._started:
            if adapter.channel == channel:
                await adapter.accounts_changed()

    def states(self) -> list[ChannelState]:
        return self.tasks.states()


def build_channels(settings: Settings, hub: Hub) -> Channels:
    """Every enabled channel, registered with the hub for delivery."""
    adapters = built_in(settings, hub) + [load_factory(path)(settings) for path in settings.extra_channels]
    email = EmailAdapter(email_settings(settings))
    on = email_wanted(settings, hub)
    channels = Channels([*adapters, email] if on else adapters, dormant=() if on else [email],
                        on_enable=hub.register_adapter)
    for adapter in channels.adapters:
        hub.register_adapter(adapter)
    return channels
