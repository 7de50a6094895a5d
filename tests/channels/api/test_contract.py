"""The API channel passes the adapter contract (tests/fakes/contract.py) against the fake port."""

from __future__ import annotations

import httpx

from channels.api.adapter import ApiChannel
from hub.ports import ChannelAdapter, OutboundMessage
from tests.fakes.contract import AdapterContract, acknowledged, routes_client
from tests.fakes.port import FakeHubPort

KEY = "integrator-key"
ANSWERS = {
    "unreachable": httpx.ConnectError("connection refused"),
    "timeout": httpx.ReadTimeout("the callback took too long"),
    "server error": httpx.Response(502),
    "rate limited": httpx.Response(429),
    "refused": httpx.Response(400, text="unknown conversation"),
}


def channel(answer: httpx.Response | Exception, callbacks: dict[str, str] | None = None) -> ApiChannel:
    def handler(request: httpx.Request) -> httpx.Response:
        if isinstance(answer, Exception):
            raise answer
        return answer

    return ApiChannel({"crm": "http://crm.test/replies"} if callbacks is None else callbacks, secret="s",
                      client=httpx.AsyncClient(transport=httpx.MockTransport(handler)))


class TestApiChannelContract(AdapterContract):
    failure_modes = (*ANSWERS, "no callback URL")

    def make(self) -> ChannelAdapter:
        return channel(httpx.Response(200, headers={"X-Delivery-Id": "crm-1"}))

    def broken(self, mode: str) -> ChannelAdapter:
        if mode == "no callback URL":
            return channel(httpx.Response(200), callbacks={})
        return channel(ANSWERS[mode])

    def outbound(self) -> OutboundMessage:
        return OutboundMessage(outbox_id=1, message_id=2, conversation_id=3, channel="api", source="crm", to="",
                               text="Your refund is on its way")

    def port(self) -> FakeHubPort:
        return FakeHubPort(api_keys=(KEY,))

    async def deliver(self, adapter: ChannelAdapter, port: FakeHubPort, label: str) -> bool | None:
        async with routes_client(adapter) as client:
            resp = await client.post("/api/v1/inbound/messages", headers={"X-Api-Key": KEY}, json={
                "source": "crm", "external_id": label, "contact": {"email": "ada@example.com"}, "text": "hello"})
        return acknowledged(resp)
