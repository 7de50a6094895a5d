"""The echo channel passes the adapter contract (tests/fakes/contract.py) against the fake port:
its mailbox task keeps an item through a failed ingest and is restarted by the runner."""

from __future__ import annotations

from hub.ports import ChannelAdapter, OutboundMessage
from tests.channels.echo.adapter import EchoChannel, EchoIn
from tests.fakes.contract import AdapterContract
from tests.fakes.port import FakeHubPort


class TestEchoChannelContract(AdapterContract):
    address_kind = "email"

    def make(self) -> ChannelAdapter:
        return EchoChannel()

    def outbound(self) -> OutboundMessage:
        return OutboundMessage(outbox_id=1, message_id=2, conversation_id=3, channel="echo", source="echo", to="",
                               text="pong")

    async def deliver(self, adapter: ChannelAdapter, port: FakeHubPort, label: str) -> bool | None:
        assert isinstance(adapter, EchoChannel)
        if adapter.port is None:
            return False  # nobody is reading the mailbox yet: the provider keeps it
        adapter.put(EchoIn(id=label, sender="ada@example.com", text=label))
        return True  # the provider holds it until the task has ingested it
