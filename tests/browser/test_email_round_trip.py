"""Issue 15's browser round trip: an email arrives, the agent replies in the console with an
attachment, the customer's mail client receives it threaded, answers carrying only References,
and the answer appears live (no reload) in the same conversation.

The customer's side is real servers: the hub's mailbox sends through an aiosmtpd server that
files what it accepts into a Dovecot inbox (IMAP APPEND, as the customer's provider would); the
test reads that inbox with imaplib, as the customer's mail client, and answers with smtplib to the
hub's own SMTP listener (where the customer's provider relays mail for the support address).
"""

from __future__ import annotations

import asyncio
import email
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from email import policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session
from playwright.sync_api import expect

from tests.browser.conftest import Hub, running_hub
from tests.browser.test_email import assigned_mail, email_settings, relay
from tests.conftest import wait_for
from tests.dovecot import Dovecot, dovecot
from tests.services import free_port

LISTENER = free_port()
OUTGOING = free_port()
PDF = b"%PDF-1.7\n%firmware notes\n%%EOF\n"


@dataclass
class IntoInbox:
    """The customer's provider: accepts mail over SMTP and files it in their IMAP inbox."""

    mailbox: Dovecot

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        await asyncio.to_thread(self.mailbox.append, envelope.original_content or b"")
        return "250 2.0.0 Ok: delivered"


@pytest.fixture(scope="module")
def customer_inbox() -> Iterator[Dovecot]:
    with dovecot() as server:
        controller = Controller(IntoInbox(server), hostname="127.0.0.1", port=OUTGOING)
        controller.start()
        try:
            yield server
        finally:
            controller.stop()


@pytest.fixture(scope="module")
def hub(tmp_path_factory: pytest.TempPathFactory, sqlite_template: Path, cheap_hashing: None,
        customer_inbox: Dovecot) -> Iterator[Hub]:
    yield from running_hub(tmp_path_factory, sqlite_template,
                           email=email_settings(LISTENER, OUTGOING, ("support@example.com", "Example Support")))


def read_inbox(server: Dovecot) -> list[EmailMessage]:
    """Every mail in the customer's inbox, as their mail client fetches it (imaplib)."""
    mails = []
    with server.imap() as client:
        typ, _ = client.select("INBOX", readonly=True)
        assert typ == "OK"
        typ, data = client.uid("SEARCH", None, "ALL")
        assert typ == "OK", data
        for uid in data[0].split():
            typ, fetched = client.uid("FETCH", uid, "(BODY.PEEK[])")
            assert typ == "OK", fetched
            raw = fetched[0]
            assert isinstance(raw, tuple)
            msg = email.message_from_bytes(raw[1], policy=policy.default)
            assert isinstance(msg, EmailMessage)
            mails.append(msg)
    return mails


def test_a_reply_with_a_file_reaches_the_customer_threaded_and_their_references_only_answer_shows_live(
        hub: Hub, new_page: Any, customer_inbox: Dovecot) -> None:
    uid = uuid.uuid4().hex[:8]
    customer = f"ada-{uid}@example.net"
    first = EmailMessage()
    first["From"], first["To"] = f"Ada Lovelace <{customer}>", "support@example.com"
    first["Subject"], first["Message-ID"] = f"Router {uid} keeps dropping", f"<first-{uid}@example.net>"
    first.set_content("My router drops the line every hour.")
    relay(first, LISTENER)

    ana, conv_id = assigned_mail(hub, f"Router {uid} keeps dropping", f"Ana {uid}")

    page = new_page(ana, path=f"/#/c/{conv_id}")
    expect(page.locator(".msg-in")).to_contain_text("My router drops the line every hour.")
    page.locator("#composer-file").set_input_files([
        {"name": "firmware-notes.pdf", "mimeType": "application/pdf", "buffer": PDF}])
    expect(page.locator(".chip", has_text="firmware-notes.pdf")).to_have_attribute("data-state", "ready")
    page.locator("#composer-text").fill("Please install the new firmware: the notes are attached.")
    page.get_by_role("button", name="Send", exact=True).click()
    expect(page.locator(".msg-out")).to_contain_text("Please install the new firmware")

    # The customer's mail client gets it, threaded under their mail, with the file.
    reply = wait_for(lambda: [m for m in read_inbox(customer_inbox) if m["To"] == customer],
                     what="our reply in the customer's inbox")[0]
    assert reply["In-Reply-To"] == f"<first-{uid}@example.net>"
    assert f"<first-{uid}@example.net>" in reply["References"].split()
    assert reply["Subject"].startswith(f"Re: Router {uid} keeps dropping")
    body = reply.get_body(("plain",))
    assert body is not None and "Please install the new firmware" in body.get_content()
    [attached] = list(reply.iter_attachments())
    assert attached.get_filename() == "firmware-notes.pdf" and attached.get_content() == PDF

    # Their answer keeps only References: no In-Reply-To, not to the Reply-To, a subject of its own.
    answer = EmailMessage()
    answer["From"], answer["To"] = customer, "support@example.com"
    answer["Subject"], answer["Message-ID"] = "works now", f"<second-{uid}@example.net>"
    answer["References"] = f"<first-{uid}@example.net> {reply['Message-ID']}"
    answer.set_content("Thanks, the new firmware fixed it.")
    relay(answer, LISTENER)

    expect(page.locator(".msg-in", has_text="Thanks, the new firmware fixed it.")).to_be_visible()
    expect(page.locator(".msg-in")).to_have_count(2)
    assert page.url.endswith(f"#/c/{conv_id}")
    contact_id = hub.api("GET", f"/api/v1/conversations/{conv_id}", ana).json()["conversation"]["contact_id"]
    mine = [c for c in hub.api("GET", "/api/v1/conversations?view=all", hub.agent("supervisor")).json()["items"]
            if c["contact_id"] == contact_id]
    assert [c["id"] for c in mine] == [conv_id]
    assert page.errors == []  # type: ignore[attr-defined]
