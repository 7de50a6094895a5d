"""A forged sender in the console: a mail whose From its mailbox's trusted server could not prove
(DMARC fail) shows "Sender not verified" with what the server said, in a conversation of its own,
not in the customer's; a proven one carries no mark."""

from __future__ import annotations

import smtplib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import Hub, running_hub
from tests.browser.test_email import email_settings
from tests.conftest import wait_for
from tests.services import free_port

LISTENER = free_port()
CORPUS = Path(__file__).parents[1] / "channels" / "email" / "corpus" / "auth"


@pytest.fixture(scope="module")
def hub(tmp_path_factory: pytest.TempPathFactory, sqlite_template: Path, cheap_hashing: None) -> Iterator[Hub]:
    email = email_settings(LISTENER, free_port(), ("support@support.example", "Support"))
    email["mailboxes"][0]["authserv_id"] = "mx.support.example"
    yield from running_hub(tmp_path_factory, sqlite_template, email=email)


def relay(name: str) -> None:
    with smtplib.SMTP("127.0.0.1", LISTENER, timeout=10) as smtp:
        smtp.sendmail("relay@support.example", ["support@support.example"], (CORPUS / name).read_bytes())


def test_a_forged_sender_is_marked_in_the_thread_and_a_proven_one_is_not(hub: Hub, new_page: Any) -> None:
    boss = hub.agent("supervisor")

    def conversations() -> list[dict[str, Any]]:
        return hub.api("GET", "/api/v1/conversations?view=all", boss).json()["items"]

    relay("gmail_pass.eml")
    [proven] = wait_for(conversations, what="the proven mail")
    relay("forged_dmarc_fail.eml")
    forged = wait_for(lambda: [c for c in conversations() if c["id"] != proven["id"]], what="the forged mail")[0]
    assert forged["contact_id"] != proven["contact_id"]

    page = new_page(boss, path=f"/#/c/{forged['id']}")
    mark = page.locator(".msg-in .mail-unverified")
    expect(mark).to_have_text("Sender not verified")
    expect(mark).to_have_attribute("title", "The mailbox's server could not prove that this mail comes from "
                                   "ana@example.org (DMARC fail, DKIM pass (other domain), SPF pass (other "
                                   "domain)). It is kept apart from the customer with that address: merge the "
                                   "contacts only if you know it is them.")
    expect(page.locator(".msg-in .msg-body")).to_contain_text("Please change the delivery address")
    page.goto(f"{hub.url}/#/c/{proven['id']}")
    expect(page.locator(".msg-in .msg-body")).to_contain_text("It restarted again this morning.")
    expect(page.locator(".mail-unverified")).to_have_count(0)
    assert page.errors == []  # type: ignore[attr-defined]
