"""A bounce marks our reply "Not delivered" with the receiving server's words, and says which of the
reply's recipients it is about: a reply with copies may have reached the customer and bounced
for one copy only, and many servers' words do not name the address."""

from __future__ import annotations

import asyncio

import pytest

from channels.email.classify import classify
from channels.email.inbound import report_bounce, to_inbound
from channels.email.parsing import parse_email
from channels.email.settings import Mailbox
from hub.ports import DeliveryUpdate
from tests.channels.email.smtp_side import delivery_report

BOX = Mailbox("support@example.com")
OURS = "<ourreply.z9@example.com>"


class Port:
    def __init__(self) -> None:
        self.updates: list[DeliveryUpdate] = []

    def apply_delivery_update(self, update: DeliveryUpdate) -> bool:
        self.updates.append(update)
        return True


@pytest.mark.parametrize("diagnostic, shown", [
    ("552 5.2.2 Mailbox full", "copy@example.net: 552 5.2.2 Mailbox full"),
    # the server's words already name it: not twice
    ("550 5.1.1 <COPY@example.net>: User unknown", "550 5.1.1 <COPY@example.net>: User unknown"),
])
def test_the_reason_names_the_recipient_that_bounced(diagnostic: str, shown: str) -> None:
    raw = delivery_report(OURS, "copy@example.net", diagnostic)
    parsed = parse_email(raw)
    port = Port()
    assert asyncio.run(report_bounce(port, to_inbound(parsed, classify(parsed), BOX, raw), (BOX.address,)))  # type: ignore[arg-type]
    [update] = port.updates
    assert (update.provider_id, update.status, update.error_message) == (OURS, "undelivered", shown)


def test_a_report_without_the_servers_words_leaves_no_english_of_ours_in_their_place() -> None:
    """The console shows the reason as the server gave it, in any language: where a report gives
    none, the reply is "Not delivered" with no made-up words (they were English in every console)."""
    raw = delivery_report(OURS, "copy@example.net").replace(b"Final-Recipient", b"X-Other").replace(
        b"Action: failed", b"X-Note: none").replace(b"Diagnostic-Code", b"X-Diagnostic")
    parsed = parse_email(raw)
    port = Port()
    assert asyncio.run(report_bounce(port, to_inbound(parsed, classify(parsed), BOX, raw), (BOX.address,)))  # type: ignore[arg-type]
    [update] = port.updates
    assert (update.status, update.error_message) == ("undelivered", None)
