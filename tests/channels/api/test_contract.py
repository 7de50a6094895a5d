"""The API channel passes the adapter contract (tests/fakes/contract.py) against the fake port."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from channels.api.adapter import ApiChannel
from hub.ports import ChannelAdapter, OutboundMessage, PermanentError
from tests.fakes.contract import AdapterContract, acknowledged, routes_client
from tests.fakes.port import FakeHubPort
from tests.services import free_port

KEY = "integrator-key"
TIMEOUT = 0.3  # the channel's; the "slow" callback answers after twice that
# A real callback endpoint on a free port: each path answers one way (status, body).
ANSWERS = {"ok": (200, "{}"), "server error": (502, ""), "rate limited": (429, ""),
           "refused": (400, "unknown conversation"), "timeout": (200, "{}"), "moved": (302, "")}
_server: dict[str, str] = {}
_heard: list[tuple[str, str]] = []  # (method, path) of every request the endpoint got


class _Callback(BaseHTTPRequestHandler):
    def do_POST(self) -> None:  # noqa: N802 (the stdlib's name)
        self.rfile.read(int(self.headers.get("Content-Length", "0")))
        self._answer()

    def do_GET(self) -> None:  # noqa: N802
        self._answer()

    def _answer(self) -> None:
        _heard.append((self.command, self.path))
        mode = self.path.rpartition("/")[2].replace("-", " ")  # a proxy is asked for the whole URL
        if mode == "timeout":
            time.sleep(TIMEOUT * 2)
        status, body = ANSWERS[mode]
        self.send_response(status)
        if status == 302:
            self.send_header("Location", "/ok")
        self.send_header("X-Delivery-Id", "crm-1")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body.encode())

    def log_message(self, *args: object) -> None:
        return None


@pytest.fixture(autouse=True, scope="module")
def callback_server() -> Iterator[None]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Callback)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    _server["url"] = f"http://127.0.0.1:{server.server_address[1]}"
    yield
    server.shutdown()
    server.server_close()


def channel(mode: str, callbacks: dict[str, str] | None = None) -> ApiChannel:
    url = f"http://127.0.0.1:{free_port()}/nobody-listens" if mode == "unreachable" else \
        f"{_server['url']}/{mode.replace(' ', '-')}"
    return ApiChannel({"crm": url} if callbacks is None else callbacks, secret="s", timeout=TIMEOUT)


class TestApiChannelContract(AdapterContract):
    failure_modes = ("unreachable", "timeout", "server error", "rate limited", "refused", "no callback URL")

    def make(self) -> ChannelAdapter:
        return channel("ok")

    def broken(self, mode: str) -> ChannelAdapter:
        if mode == "no callback URL":
            return channel("ok", callbacks={})
        return channel(mode)

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


def test_a_callback_that_redirects_does_not_count_as_delivered_nor_gets_the_reply_elsewhere() -> None:
    """A callback URL that moved answers 3xx: following it would turn the POST into a GET
    without the reply (which the new place answers 200), and the reply would show "delivered"."""
    async def attempt() -> None:
        adapter = channel("moved")
        try:
            with pytest.raises(PermanentError, match="302"):
                await adapter.send(TestApiChannelContract().outbound())
        finally:
            await adapter.stop()

    _heard.clear()
    asyncio.run(attempt())
    assert _heard == [("POST", "/moved")]


def test_callbacks_go_through_the_proxy_the_environment_names(monkeypatch: pytest.MonkeyPatch) -> None:
    """As with httpx before: a hub whose way out is a proxy (HTTP_PROXY, HTTPS_PROXY, NO_PROXY)
    still reaches its callbacks."""
    async def attempt() -> None:
        adapter = ApiChannel({"crm": "http://crm.invalid/ok"}, secret="s", timeout=TIMEOUT)
        try:
            result = await adapter.send(TestApiChannelContract().outbound())
        finally:
            await adapter.stop()
        assert result.status == "delivered"

    for name in ("NO_PROXY", "no_proxy", "HTTP_PROXY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("http_proxy", _server["url"])
    _heard.clear()
    asyncio.run(attempt())
    assert _heard == [("POST", "http://crm.invalid/ok")]
