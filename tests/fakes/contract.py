"""The contract every channel adapter passes, against the fake port (no database).

A channel's test module subclasses `AdapterContract` as `Test<Name>Contract` and fills in its
hooks; pytest then runs every `test_*` below for it:

- it starts and stops cleanly, and stopping twice (or without starting) is fine, leaving no task;
  with no customer talking, it asks the port for no queue places (`queue_status_async` is for a
  waiting customer, at the server's pace, never a poll of everyone), and rates nothing
  (`rate_conversation_async` carries a customer's own rating, never one an adapter makes up);
- `routes()` gives ASGI routes, and a request arriving before `start` is answered (not crashed,
  not ingested);
- it declares `address_kind` ("phone", "email" or None), the one its contract expects: the
  delivery worker fills `Outbound.to` from it;
- a call request (`OutboundCall`) is placed (a `SendResult`) by a channel that `places_calls`, and
  refused by any other with `PermanentError` (retrying would not help);
- `send()` returns a `SendResult`, or raises only `TransientError` / `PermanentError`, whatever the
  vendor does (each of the adapter's `failure_modes`), and also after `stop`;
- inbound work survives a failure: with the port's ingest failing once, the item is either
  refused to its sender, who delivers it again, or kept by the adapter's task, which the
  `TaskRunner` restarts; either way it is ingested exactly once.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from starlette.routing import BaseRoute

from hub.ports import ChannelAdapter, OutboundCall, OutboundMessage, PermanentError, SendResult, TransientError
from tests.fakes.port import FakeHubPort, FakeTaskRunner


class AdapterContract:
    # The ways the adapter's vendor can fail; `broken(mode)` builds an adapter facing each.
    failure_modes: Sequence[str] = ()
    # The identity kind the adapter addresses customers by (`ChannelAdapter.address_kind`).
    address_kind: str | None = None
    # Whether it places call requests (voice); every other adapter refuses them for good.
    places_calls: bool = False

    def make(self) -> ChannelAdapter:
        """A fresh adapter whose vendor works."""
        raise NotImplementedError

    def broken(self, mode: str) -> ChannelAdapter:
        """A fresh adapter whose vendor fails in `mode` (one of `failure_modes`)."""
        raise NotImplementedError

    def outbound(self) -> OutboundMessage:
        """A reply this adapter can send."""
        raise NotImplementedError

    def call(self) -> OutboundCall:
        """A call request to the customer of `outbound()`."""
        text = self.outbound()
        return OutboundCall(outbox_id=text.outbox_id + 100, conversation_id=text.conversation_id,
                            channel=text.channel, source=text.source, to=text.to, metadata=text.metadata)

    def port(self) -> FakeHubPort:
        return FakeHubPort()

    async def deliver(self, adapter: ChannelAdapter, port: FakeHubPort, label: str) -> bool | None:
        """Bring one inbound item to the adapter the way its provider would; the same `label`
        gives the same item (the same natural key). True: the sender was told it is stored;
        False: told to retry. None: the adapter takes nothing in (inbound tests are skipped)."""
        return None

    # -- the contract --------------------------------------------------------------------------

    def test_it_starts_and_stops_cleanly_and_stopping_twice_is_fine(self) -> None:
        async def scenario() -> None:
            idle = self.make()
            await idle.stop()  # never started
            before = set(asyncio.all_tasks())
            adapter, port, runner = self.make(), self.port(), FakeTaskRunner()
            await adapter.start(port, runner)
            await asyncio.sleep(0)
            await runner.stop()
            await adapter.stop()
            await adapter.stop()
            await until(lambda: set(asyncio.all_tasks()) <= before, "the adapter's tasks to end")
            assert port.queue_asked == [], "queue places are asked for waiting customers only, never polled"
            assert port.ratings == [], "a rating is a customer's own word"

        asyncio.run(scenario())

    def test_its_routes_are_asgi_routes_answered_before_it_starts(self) -> None:
        adapter = self.make()
        routes = adapter.routes()
        assert all(isinstance(route, BaseRoute) for route in routes), routes

        async def scenario() -> None:
            port = self.port()
            answered = await self.deliver(adapter, port, "before-start")
            if answered is None:
                return
            assert answered is False, "a request before start must not be acknowledged"
            assert port.ingested == []

        asyncio.run(scenario())

    def test_a_send_returns_a_result(self) -> None:
        async def scenario() -> None:
            adapter, port, runner = self.make(), self.port(), FakeTaskRunner()
            await adapter.start(port, runner)
            sent = await port.send(adapter, self.outbound())
            assert sent.error is None and sent.result is not None and sent.result.status
            await runner.stop()
            await adapter.stop()

        asyncio.run(scenario())

    def test_it_declares_how_it_addresses_customers(self) -> None:
        adapter = self.make()
        assert adapter.address_kind in ("phone", "email", None)
        assert adapter.address_kind == self.address_kind

    def test_a_call_request_is_placed_or_refused_for_good(self) -> None:
        async def scenario() -> Any:
            adapter, port, runner = self.make(), self.port(), FakeTaskRunner()
            await adapter.start(port, runner)
            try:
                return await port.send(adapter, self.call())
            finally:
                await runner.stop()
                await adapter.stop()

        sent = asyncio.run(scenario())
        if self.places_calls:
            assert sent.error is None and sent.result is not None
        else:
            assert isinstance(sent.error, PermanentError) and str(sent.error), sent

    def test_a_failing_vendor_gives_only_the_ports_errors(self) -> None:
        async def scenario(mode: str) -> Any:
            adapter, port, runner = self.broken(mode), self.port(), FakeTaskRunner()
            await adapter.start(port, runner)
            try:
                return await port.send(adapter, self.outbound())  # raises anything else
            finally:
                await runner.stop()
                await adapter.stop()

        for mode in self.failure_modes:
            sent = asyncio.run(scenario(mode))
            assert sent.result is None and sent.error is not None, f"{mode}: {sent}"
            assert str(sent.error), f"{mode}: an error without a reason"

    def test_a_send_after_stop_answers_or_asks_to_retry(self) -> None:
        async def scenario() -> Any:
            adapter, port, runner = self.make(), self.port(), FakeTaskRunner()
            await adapter.start(port, runner)
            await runner.stop()
            await adapter.stop()
            return await port.send(adapter, self.outbound())

        sent = asyncio.run(scenario())
        assert isinstance(sent.result, SendResult) or isinstance(sent.error, TransientError | PermanentError)

    def test_inbound_work_survives_a_failure_and_stores_the_item_once(self) -> None:
        async def scenario() -> tuple[FakeHubPort, FakeTaskRunner] | None:
            adapter, port, runner = self.make(), self.port(), FakeTaskRunner()
            await adapter.start(port, runner)
            try:
                port.fail_next(1)
                acked = await self.deliver(adapter, port, "survivor")
                if acked is None:
                    return None
                if not acked:  # the sender was told to retry, and does
                    assert port.ingested == []
                    assert await self.deliver(adapter, port, "survivor") is True
                await until(lambda: port.ingested, "the item to be ingested")
                return port, runner
            finally:
                await runner.stop()
                await adapter.stop()

        outcome = asyncio.run(scenario())
        if outcome is None:
            pytest.skip("this adapter takes nothing in")
        port, runner = outcome
        assert len(port.ingested) == 1
        assert all(t.last_error is None or t.restarts >= 1 for t in runner.states())


def routes_client(adapter: ChannelAdapter) -> httpx.AsyncClient:
    """An HTTP client to an app serving only `adapter.routes()` (a server error comes back as 500)."""
    app = FastAPI()
    app.router.routes.extend(adapter.routes())
    return httpx.AsyncClient(transport=httpx.ASGITransport(app, raise_app_exceptions=False),
                             base_url="http://testserver")


def acknowledged(resp: httpx.Response) -> bool:
    """A 2xx: stored; a 5xx: the sender retries. Anything else breaks the contract."""
    assert resp.status_code < 300 or resp.status_code >= 500, (resp.status_code, resp.text)
    return resp.status_code < 300


async def until(check: Any, what: str) -> Any:
    """Wait (yielding to the loop) until `check()` holds, for at most 10 s."""
    try:
        async with asyncio.timeout(10):
            while not (result := check()):  # noqa: ASYNC110 (a condition of any shape, polled)
                await asyncio.sleep(0.005)
    except TimeoutError:
        raise AssertionError(f"timed out waiting for {what}") from None
    return result
