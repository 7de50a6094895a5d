"""The hub's own SMTP listener (aiosmtpd), for mail a relay forwards to it.

Ack after commit: `250` only once every mailbox the mail was addressed to has it committed (or,
for mail that cannot be parsed, once it is kept raw for an admin); `451` (try again later) on any
internal failure, so the relay keeps the mail and retries, and the redelivery is a no-op for
mailboxes that had it; `552` over the size limit; `550` for a recipient that is not one of our
mailboxes (the listener is no open relay). It runs on the hub's own event loop.
"""

from __future__ import annotations

import asyncio
import logging

from aiosmtpd.smtp import SMTP, Envelope, Session

from channels.email.bodies import Part
from channels.email.classify import classify
from channels.email.files import ingest_settled, with_files
from channels.email.inbound import EmailPort, report_bounce, to_inbound, to_raw
from channels.email.parsing import parse_email
from channels.email.settings import EmailSettings, Mailbox
from channels.email.smtp_protocol import HubSMTP
from hub.ports import InboundMessage, RejectedMessage

logger = logging.getLogger(__name__)

OK = "250 2.0.0 OK: delivered to the hub"
KEPT = "250 2.0.0 OK: kept for review (it could not be read as a message)"
TRY_LATER = "451 4.3.0 The hub could not store this message now; try again later"
TOO_BIG = "552 5.3.4 Message too big for this mailbox"
NO_MAILBOX = "550 5.1.1 No such mailbox here"

Prepared = tuple[Mailbox, InboundMessage | None, str]  # a message to ingest, or why to keep it raw


class Handler:
    """aiosmtpd's handler: one per listener."""

    def __init__(self, settings: EmailSettings, port: EmailPort) -> None:
        self.settings = settings
        self.port = port
        self.addresses = tuple(box.address for box in settings.mailboxes)

    async def handle_RCPT(self, server: SMTP, session: Session, envelope: Envelope, address: str,
                          rcpt_options: list[str]) -> str:
        if self.settings.mailbox_for(address) is None:
            return NO_MAILBOX
        envelope.rcpt_tos.append(address)
        return "250 2.1.5 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        raw = envelope.original_content or b""
        if len(raw) > self.settings.listener.max_bytes:
            return TOO_BIG
        boxes = list(dict.fromkeys(b for b in (self.settings.mailbox_for(a) for a in envelope.rcpt_tos) if b))
        try:
            if len(raw) >= self.settings.listener.parse_inline_below:
                external_id, prepared, parts = await asyncio.to_thread(self._prepare, raw, envelope.rcpt_tos, boxes)
            else:
                external_id, prepared, parts = self._prepare(raw, envelope.rcpt_tos, boxes)
            for box, message, reason in prepared:
                if isinstance(message, InboundMessage):
                    try:
                        await ingest_settled(self.port, await with_files(self.port, message, parts, settle=False))
                        await report_bounce(self.port, message, self.addresses)
                        continue
                    except RejectedMessage as exc:  # bad for good (a value the hub cannot store)
                        reason = f"refused by the hub: {exc}"
                await self.port.keep_raw_async(to_raw(box, raw, reason, external_id))
        except Exception:
            logger.exception("the SMTP listener could not store a message from %s", session.peer)
            return TRY_LATER
        return OK if any(isinstance(m, InboundMessage) for _, m, _ in prepared) else KEPT

    def use(self, settings: EmailSettings) -> None:
        """The mailboxes changed (an admin edited them): mail to the new set is taken from now on."""
        self.settings = settings
        self.addresses = tuple(box.address for box in settings.mailboxes)

    def _prepare(self, raw: bytes, rcpt_tos: list[str],
                 boxes: list[Mailbox]) -> tuple[str, list[Prepared], tuple[Part, ...]]:
        """Parse once, then one message (or a reason to keep it raw) per mailbox addressed, and
        the files to store with each."""
        parsed = parse_email(raw, mailbox_addresses=self.addresses, envelope_recipients=rcpt_tos)
        if parsed.failure:
            return parsed.external_id, [(box, None, parsed.failure) for box in boxes], ()
        kind = classify(parsed)
        return parsed.external_id, [(box, to_inbound(parsed, kind, box, raw), "") for box in boxes], parsed.parts


class Listener:
    """Starts and stops the SMTP server on the running event loop."""

    def __init__(self, settings: EmailSettings, port: EmailPort) -> None:
        self.settings = settings
        self.handler = Handler(settings, port)
        self.server: asyncio.base_events.Server | None = None

    @property
    def address(self) -> tuple[str, int]:
        assert self.server is not None and self.server.sockets
        host, port = self.server.sockets[0].getsockname()[:2]
        return host, port

    async def start(self) -> None:
        cfg = self.settings.listener
        loop = asyncio.get_running_loop()
        self.server = await loop.create_server(
            lambda: HubSMTP(self.handler, data_size_limit=cfg.max_bytes, enable_SMTPUTF8=True,
                         hostname="contact-hub", ident="contact-hub ESMTP"),
            host=cfg.host, port=cfg.port)

    async def stop(self) -> None:
        if self.server is not None:
            self.server.close()
            await self.server.wait_closed()
            self.server = None
