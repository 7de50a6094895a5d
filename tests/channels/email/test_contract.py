"""The email channel passes the adapter contract (tests/fakes/contract.py) against the fake port:
mail comes in through its SMTP listener, replies leave through an aiosmtpd server."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack
from email.message import EmailMessage

import aiosmtplib
import pytest

from channels.email.adapter import EmailAdapter
from channels.email.settings import EmailSettings, Mailbox, SmtpListener, SmtpServer
from hub.ports import ChannelAdapter, OutboundMessage
from tests.channels.email.smtp_side import Recorder, smtp_server
from tests.conftest import free_port
from tests.fakes.contract import AdapterContract
from tests.fakes.port import FakeHubPort

ANSWERS = {
    "refusing the recipient": Recorder(rcpt_answer={"ada@example.net": "550 5.1.1 User unknown"}),
    "trying later": Recorder(data_answer="451 4.3.0 try later"),
}


def adapter(smtp_port: int) -> EmailAdapter:
    box = Mailbox("support@example.com", "Example Support", smtp=SmtpServer(port=smtp_port, timeout_seconds=5))
    return EmailAdapter(EmailSettings(mailboxes=(box,), secret=b"k" * 32,
                                      listener=SmtpListener(enabled=True, port=free_port())))


class TestEmailChannelContract(AdapterContract):
    failure_modes = (*ANSWERS, "unreachable")
    address_kind = "email"

    @pytest.fixture(autouse=True)
    def servers(self) -> Iterator[None]:
        with ExitStack() as stack:
            self.ports = {mode: free_port() for mode in (*ANSWERS, "working", "unreachable")}
            stack.enter_context(smtp_server(self.ports["working"]))
            for mode, recorder in ANSWERS.items():
                stack.enter_context(smtp_server(self.ports[mode], recorder))
            yield

    def make(self) -> ChannelAdapter:
        return adapter(self.ports["working"])

    def broken(self, mode: str) -> ChannelAdapter:
        return adapter(self.ports[mode])

    def outbound(self) -> OutboundMessage:
        return OutboundMessage(outbox_id=1, message_id=2, conversation_id=3, channel="email",
                               source="support@example.com", to="ada@example.net", text="Your refund is on its way",
                               subject="Refund")

    def port(self) -> FakeHubPort:
        return FakeHubPort()

    async def deliver(self, adapter: ChannelAdapter, port: FakeHubPort, label: str) -> bool | None:
        assert isinstance(adapter, EmailAdapter)
        msg = EmailMessage()
        msg["From"], msg["To"], msg["Subject"] = "ada@example.net", "support@example.com", "Refund?"
        msg["Message-ID"] = f"<{label}@example.net>"
        msg.set_content("Where is my refund?")
        try:
            await aiosmtplib.send(msg, hostname="127.0.0.1", port=adapter.settings.listener.port, timeout=5)
        except (aiosmtplib.SMTPException, OSError):
            return False
        return True
