"""The demo channel passes the adapter contract (tests/fakes/contract.py) against the fake port."""

from __future__ import annotations

from channels.demo.adapter import DemoChannel
from hub.ports import ChannelAdapter, ContactRef, OutboundMessage
from tests.fakes.contract import AdapterContract


class TestDemoChannelContract(AdapterContract):
    failure_modes = ("no customer",)

    def make(self) -> ChannelAdapter:
        return DemoChannel(lambda cid: ContactRef(email="c@x.example") if cid == 7 else None, answer_after=0)

    def broken(self, mode: str) -> ChannelAdapter:
        return DemoChannel(lambda cid: None, answer_after=0)

    def outbound(self) -> OutboundMessage:
        return OutboundMessage(outbox_id=1, message_id=2, conversation_id=3, channel="demo", source="demo", to="",
                               text="hello", metadata={"contact_id": 7})
