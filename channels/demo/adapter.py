"""The demo channel's adapter: agents' replies to demo conversations are "delivered" at once (and
written to the log, where a person running `make run` sees them), and the demo customer answers
each one a moment later, through ingest like any customer, so the console shows a live exchange.

It knows the hub only through `hub.ports`; who the customer of a conversation is comes from a
function the registry passes in (`customer_of(contact_id)`). Stopping it drops answers not yet given.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable

from hub.ports import (
    BaseAdapter,
    ContactRef,
    InboundMessage,
    Outbound,
    OutboundMessage,
    PermanentError,
    SendResult,
)

logger = logging.getLogger(__name__)

CHANNEL = "demo"
# What the demo customer says back, in turn.
CUSTOMER_LINES = (
    "Thanks, that helps!",
    "OK, I will try that and let you know.",
    "Sorry, one more question: how long will it take?",
    "Great, that solved it. Thank you!",
)


def _thread_key(outbox_id: int) -> str:
    return f"reply-{outbox_id}"


class DemoChannel(BaseAdapter):
    channel = CHANNEL
    address_kind = None  # the customer comes from `customer_of`

    def __init__(self, customer_of: Callable[[int], ContactRef | None], *, answer_after: float = 1.5) -> None:
        self.customer_of = customer_of
        self.answer_after = answer_after
        self._tasks: set[asyncio.Task[None]] = set()

    async def send(self, message: Outbound) -> SendResult:
        if not isinstance(message, OutboundMessage):
            raise PermanentError("the demo customer takes no calls")
        contact_id = message.metadata.get("contact_id")
        customer = await asyncio.to_thread(self.customer_of, contact_id) if isinstance(contact_id, int) else None
        if customer is None:
            raise PermanentError("the demo channel has no customer for this conversation")
        logger.info("demo customer %s received: %s", customer.name or customer.email or contact_id, message.text)
        task = asyncio.create_task(self._answer(message, customer), name=f"demo-answer-{message.outbox_id}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        # The key the answer carries: the hub records it with the conversation once the send is
        # recorded, so the answer threads there (an answer faster than that joins the customer's
        # latest demo conversation, the same one in practice).
        return SendResult(provider_id=f"demo-{message.outbox_id}", status="delivered",
                          thread_keys=(_thread_key(message.outbox_id),))

    async def _answer(self, message: OutboundMessage, customer: ContactRef) -> None:
        await asyncio.sleep(self.answer_after)
        port = self.port
        if port is None:  # stopped (or not started yet): the customer stays silent
            return
        try:
            await port.ingest_async(InboundMessage(
                channel=CHANNEL, source=message.source, ingest_scope=f"{CHANNEL}:{message.source}",
                external_id=f"answer-{message.outbox_id}", contact=customer,
                text=CUSTOMER_LINES[message.outbox_id % len(CUSTOMER_LINES)],
                thread_keys=(_thread_key(message.outbox_id),)))
        except Exception:  # a demo nicety: never worth more than a line in the log
            logger.exception("the demo customer could not answer reply %s", message.outbox_id)

    async def stop(self) -> None:
        self.port = None
        for task in list(self._tasks):
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
