"""Files in the console: an agent attaches a picture and a PDF to a reply, removes one chip on
the way, and the reply shows in the thread with the picture as a thumbnail the hub serves."""

from __future__ import annotations

import uuid
from typing import Any

from playwright.sync_api import expect

from tests.browser.conftest import Hub
from tests.factories import TINY_PNG as PNG


def test_an_agent_attaches_files_to_a_reply_and_they_show_in_the_thread(hub: Hub, new_page: Any) -> None:
    ana = hub.agent(name="Ana Files")
    conv = hub.customer_says("Can you send the invoice?", email=f"f-{uuid.uuid4().hex[:8]}@example.com",
                             name="Fay Files")["conversation_id"]
    boss = hub.agent("supervisor")
    given = hub.api("POST", f"/api/v1/conversations/{conv}/assign", boss, json={"assignee_id": ana.id})
    assert given.status_code == 200, given.text
    page = new_page(ana, path=f"/#/c/{conv}")
    expect(page.locator(".msg-in")).to_contain_text("Can you send the invoice?")

    page.locator("#composer-file").set_input_files([
        {"name": "chart.png", "mimeType": "application/octet-stream", "buffer": PNG},
        {"name": "invoice.pdf", "mimeType": "application/pdf", "buffer": b"%PDF-1.7\n%invoice\n"},
        {"name": "wrong.txt", "mimeType": "text/plain", "buffer": b"not this one"},
    ])
    chips = page.locator(".chip")
    expect(chips).to_have_count(3)
    expect(chips.filter(has_text="wrong.txt")).to_have_attribute("data-state", "ready")
    page.get_by_role("button", name="Remove wrong.txt").click()
    expect(chips).to_have_count(2)

    page.locator("#composer-text").fill("Here is the invoice, and the chart.")
    page.get_by_role("button", name="Send", exact=True).click()
    reply = page.locator(".msg-out", has_text="Here is the invoice")
    expect(reply.locator(".attachments li")).to_have_count(2)
    expect(reply.locator(".attachments a", has_text="invoice.pdf")).to_have_attribute("download", "invoice.pdf")
    thumb = reply.locator("img.thumb")
    expect(thumb).to_have_attribute("alt", "chart.png")
    page.wait_for_function("() => { const i = document.querySelector('.msg-out img.thumb'); "
                           "return i && i.complete && i.naturalWidth === 1; }")
    expect(chips).to_have_count(0)
    # The customer's channel gets them: the queued reply carries both files.
    thread = hub.api("GET", f"/api/v1/conversations/{conv}", ana).json()
    assert [a["filename"] for a in thread["messages"][-1]["attachments"]] == ["chart.png", "invoice.pdf"]
    assert page.errors == []  # type: ignore[attr-defined]
