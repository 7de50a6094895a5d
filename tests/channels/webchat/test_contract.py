"""The web chat passes the adapter contract (tests/fakes/contract.py) against the fake port. Its
inbound side is a websocket, tested against a real hub in test_socket.py (a message is acked only
after its commit; a resend is stored once)."""

from __future__ import annotations

import asyncio

import pytest

from channels.webchat.adapter import WebchatChannel
from channels.webchat.settings import WebchatSettings
from hub.ports import ChannelAdapter, OutboundCall, OutboundMessage, PermanentError
from tests.fakes.contract import AdapterContract
from tests.fakes.port import FakeHubPort, FakeTaskRunner


def channel() -> WebchatChannel:
    return WebchatChannel(WebchatSettings(), public_url="http://testserver", token_key="k")


class TestWebchatContract(AdapterContract):
    def make(self) -> ChannelAdapter:
        return channel()

    def outbound(self) -> OutboundMessage:
        return OutboundMessage(outbox_id=1, message_id=2, conversation_id=3, channel="webchat", source="website",
                               to="", text="hello", metadata={"contact_id": 7})


def test_a_reply_is_delivered_while_the_visitor_is_connected_and_handed_over_otherwise() -> None:
    async def scenario() -> list[tuple[str, str | None]]:
        adapter, port = channel(), FakeHubPort()
        await adapter.start(port, FakeTaskRunner())
        reply = TestWebchatContract().outbound()
        results = [await adapter.send(reply)]
        adapter.following(7, +1)
        results.append(await adapter.send(reply))
        adapter.following(7, -1)
        results.append(await adapter.send(reply))
        await adapter.stop()
        return [(r.status, r.hand_over) for r in results]

    # Away from the page, the hub may also send it by email (if the visitor left an address).
    assert asyncio.run(scenario()) == [("sent", "email"), ("delivered", None), ("sent", "email")]


def test_a_call_request_is_refused_for_good() -> None:
    call = OutboundCall(outbox_id=1, conversation_id=3, channel="webchat", source="website", to="")
    with pytest.raises(PermanentError, match="cannot be called"):
        asyncio.run(channel().send(call))


def test_it_listens_to_agents_typing_only_while_started() -> None:
    async def scenario() -> tuple[int, int]:
        adapter, port = channel(), FakeHubPort()
        await adapter.start(port, FakeTaskRunner())
        listening = len(port._typing_listeners)
        await adapter.stop()
        return listening, len(port._typing_listeners)

    assert asyncio.run(scenario()) == (1, 0)
