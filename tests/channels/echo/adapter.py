"""A toy "echo" channel that lives only in this test folder, added by settings alone:
`extra_channels = ["tests.channels.echo.adapter:make"]` (config/channels.py).

Inbound it has both shapes a channel can have: a route (`POST /channels/echo/messages`, answered
after the commit) and a task that drains a mailbox (what an IMAP poller does): an item leaves the
mailbox only once ingested, so a failure restarts the task (hub.channel_tasks) without losing it.
Outbound, `send` records what the hub sent.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from hub.ports import (
    BaseAdapter,
    ContactRef,
    HubPort,
    InboundMessage,
    Outbound,
    OutboundMessage,
    PermanentError,
    SendResult,
    TaskRunner,
)

CHANNEL = "echo"


class EchoIn(BaseModel):
    id: str
    sender: str  # an email address
    text: str


class EchoChannel(BaseAdapter):
    channel = CHANNEL
    address_kind = "email"  # the hub fills a reply's `to` with the customer's address

    def __init__(self) -> None:
        self.mailbox: list[EchoIn] = []  # what the "provider" holds for us
        self._mail = asyncio.Event()
        self.sent: list[OutboundMessage] = []

    def routes(self) -> Sequence[Any]:
        router = APIRouter(tags=["echo (a test channel)"])
        router.add_api_route("/channels/echo/messages", self.post, methods=["POST"], status_code=201)
        return router.routes

    async def start(self, port: HubPort, tasks: TaskRunner) -> None:
        self.port = port
        tasks.spawn("mailbox", self.drain)

    async def stop(self) -> None:
        self.port = None

    def put(self, item: EchoIn) -> None:
        """The provider receives an item for us (call on the hub's event loop)."""
        self.mailbox.append(item)
        self._mail.set()

    async def drain(self) -> None:
        while True:
            while self.mailbox and self.port is not None:
                await self.port.ingest_async(message(self.mailbox[0]))  # raises: the item stays
                self.mailbox.pop(0)
            self._mail.clear()
            await self._mail.wait()

    async def post(self, body: EchoIn) -> JSONResponse:
        if self.port is None:
            return JSONResponse({"error": "unavailable", "message": "echo is not running"}, status_code=503)
        result = await self.port.ingest_async(message(body))
        return JSONResponse({"conversation_id": result.conversation_id}, status_code=201 if result.created else 200)

    async def send(self, message: Outbound) -> SendResult:
        if not isinstance(message, OutboundMessage):
            raise PermanentError("the echo channel places no calls")
        self.sent.append(message)
        return SendResult(provider_id=f"echo-{message.outbox_id}", status="delivered")


def message(item: EchoIn) -> InboundMessage:
    return InboundMessage(channel=CHANNEL, source="echo", ingest_scope="echo", external_id=item.id,
                          contact=ContactRef(email=item.sender), text=item.text)


def make(settings: object) -> EchoChannel:
    """The factory the registry calls with the hub's settings (this channel has none of its own)."""
    return EchoChannel()
