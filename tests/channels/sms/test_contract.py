"""The SMS channel passes the adapter contract (tests/fakes/contract.py) against the fake port,
with the real `twilio` client talking to the local fake of Twilio's API."""

from __future__ import annotations

import hashlib

from channels.sms.adapter import TwilioSmsAdapter
from channels.sms.settings import SmsSettings
from hub.ports import ChannelAdapter, OutboundMessage
from tests.channels.sms.twilio_side import (
    ACCOUNT_SID,
    AUTH_TOKEN,
    CUSTOMER,
    NUMBER,
    PUBLIC_URL,
    inbound_params,
    inbound_url,
    sign,
)
from tests.fakes.contract import AdapterContract, acknowledged, routes_client
from tests.fakes.port import FakeHubPort
from tests.fakes.twilio_api import FakeTwilioApi
from tests.services import free_port

# mode -> (HTTP status, Twilio's error code)
REFUSALS = {"server error": (500, None), "rate limited": (429, 20429), "invalid number": (400, 21211),
            "unsubscribed": (400, 21610)}


class TestTwilioSmsContract(AdapterContract):
    failure_modes = (*REFUSALS, "unreachable")
    address_kind = "phone"

    def setup_method(self) -> None:
        self.twilio = FakeTwilioApi(ACCOUNT_SID, AUTH_TOKEN).start()

    def teardown_method(self) -> None:
        self.twilio.stop()

    def settings(self, api_url: str) -> SmsSettings:
        return SmsSettings(account_sid=ACCOUNT_SID, auth_token=AUTH_TOKEN, numbers=(NUMBER,), api_base_url=api_url,
                           public_url=PUBLIC_URL, timeout_seconds=5)

    def make(self) -> ChannelAdapter:
        return TwilioSmsAdapter(self.settings(self.twilio.url))

    def broken(self, mode: str) -> ChannelAdapter:
        if mode == "unreachable":
            return TwilioSmsAdapter(self.settings(f"http://127.0.0.1:{free_port()}"))
        status, code = REFUSALS[mode]
        self.twilio.fail_next(1, status, code=code, message=mode)
        return self.make()

    def outbound(self) -> OutboundMessage:
        return OutboundMessage(outbox_id=1, message_id=2, conversation_id=3, channel="sms", source=NUMBER,
                               to=CUSTOMER, text="Your order ships today")

    async def deliver(self, adapter: ChannelAdapter, port: FakeHubPort, label: str) -> bool | None:
        params = inbound_params(sid="SM" + hashlib.md5(label.encode()).hexdigest(), body=f"text {label}")
        async with routes_client(adapter) as client:
            resp = await client.post(inbound_url(), data=params, headers=sign(inbound_url(), params))
        return acknowledged(resp)
