"""A suggested match in the customer pane: an agent says "not the same" and every console that shows
either customer stops suggesting it, live."""

from __future__ import annotations

import os
from typing import Any

import httpx
from playwright.sync_api import expect

from tests.browser.conftest import Hub
from tests.browser.test_settings import serious_violations


def test_dismissing_a_suggested_match_updates_every_console(hub: Hub, new_page: Any) -> None:
    ana, ben = hub.agent(name="Ana Match"), hub.agent(name="Ben Match")
    email = f"kim-{os.urandom(4).hex()}@example.com"
    conv = hub.customer_says("hello", email=email, name="Kim Match")["conversation_id"]
    # Someone types Kim's email beside their own phone: the phone is held apart, suggested.
    body = {"source": "crm", "external_id": os.urandom(6).hex(), "text": "my phone",
            "contact": {"email": email, "phone": "+14155550177"}}
    assert httpx.post(f"{hub.url}/api/v1/inbound/messages", json=body,
                      headers={"X-Api-Key": hub.api_key}).status_code in (200, 201)

    ana_page = new_page(ana, path=f"/#/c/{conv}")
    ben_page = new_page(ben, locale="es-ES", path=f"/#/c/{conv}")
    suggestion = ana_page.locator(".matches .match")
    expect(suggestion).to_contain_text("+14155550177")
    expect(ana_page.locator(".matches h3")).to_have_text("Possibly the same customer")
    expect(ben_page.locator(".matches h3")).to_have_text("Quizá sea el mismo cliente")
    expect(ben_page.locator(".matches .match")).to_contain_text("+14155550177")
    assert serious_violations(ana_page) == []
    ana_page.locator(".pane-customer").screenshot(path="/tmp/match-en.png")
    ben_page.locator(".pane-customer").screenshot(path="/tmp/match-es.png")

    suggestion.get_by_role("button", name="Not the same").click()
    expect(ana_page.locator(".matches")).to_have_count(0)
    expect(ben_page.locator(".matches")).to_have_count(0)  # live, without a reload
    expect(ben_page.locator(".timeline")).to_contain_text("No es el mismo cliente (sugerencia descartada)")

    # The next one is Kim's: merged into her, the phone joins her identities.
    body.update(external_id=os.urandom(6).hex(), contact={"email": email, "phone": "+14155550178"})
    assert httpx.post(f"{hub.url}/api/v1/inbound/messages", json=body,
                      headers={"X-Api-Key": hub.api_key}).status_code in (200, 201)
    expect(suggestion).to_contain_text("+14155550178")
    suggestion.get_by_role("button", name="Merge into this customer").click()
    expect(ana_page.locator(".identities")).to_contain_text("+14155550178")
    expect(ana_page.locator(".matches")).to_have_count(0)
    assert ana_page.errors == [] and ben_page.errors == []
