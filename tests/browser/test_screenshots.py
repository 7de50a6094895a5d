"""Screenshots of the main screens for the README: `HUB_SCREENSHOTS=1 pytest tests/browser/test_screenshots.py`
writes them into docs/screenshots/; otherwise into a temporary folder (the screens are still built
and checked, so this stays a test of something)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import Hub

DOCS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"


@pytest.fixture
def out_dir(tmp_path: Path) -> Path:
    if os.environ.get("HUB_SCREENSHOTS"):
        DOCS.mkdir(parents=True, exist_ok=True)
        return DOCS
    return tmp_path


def test_screenshots_of_login_inbox_and_conversation(hub: Hub, new_page: Any, out_dir: Path) -> None:
    login = new_page(None, locale="es-ES", path="/login")
    expect(login.get_by_role("button", name="Entrar")).to_be_visible()
    login.screenshot(path=str(out_dir / "login-es.png"))

    ana, ben = hub.agent(name="Ana García"), hub.agent(name="Ben Okafor")
    boss = hub.agent("supervisor", name="Sam Lee")
    page = new_page(ana)  # Ana at work (online): her customers' new messages stay with her
    expect(page.locator("#presence")).to_have_value("online")
    people = [("Carla Núñez", "My order #4821 hasn't arrived yet, can you check?"),
              ("David Chen", "How do I change the email on my account?"),
              ("Emma Wilson", "The invoice shows the wrong VAT number."),
              ("Farid Haddad", "Thanks, that worked!")]
    convs = []
    for name, text in people:
        email = f"{name.split()[0].lower()}-{os.urandom(3).hex()}@example.com"
        convs.append((hub.customer_says(text, email=email, name=name, subject=None)["conversation_id"], email))
    for conv, _ in convs:
        resp = hub.api("POST", f"/api/v1/conversations/{conv}/assign", boss, json={"assignee_id": ana.id})
        assert resp.status_code == 200, resp.text
    first, email = convs[0]
    hub.api("POST", f"/api/v1/conversations/{first}/messages", ana,
            json={"text": "Hi Carla, sorry about that. Let me look it up for you."})
    hub.api("POST", f"/api/v1/conversations/{first}/notes", ana,
            json={"text": "@Ben Okafor the courier says it left the depot on Monday, can you confirm?",
                  "mentions": [ben.id]})
    hub.customer_says("It was supposed to arrive on Friday.", email=email)

    expect(page.locator(".row-name")).to_have_text([name for name, _ in people[:1] + people[:0:-1]])
    page.screenshot(path=str(out_dir / "inbox.png"))
    page.locator(".row-item", has_text="Carla").locator("a").click()
    expect(page.locator(".msg")).to_have_count(4)
    expect(page.locator(".timeline li").first).to_be_visible()
    page.locator("#composer-text").fill("Good news: it's out for delivery today.")
    page.screenshot(path=str(out_dir / "conversation.png"))
    page.set_viewport_size({"width": 900, "height": 1100})
    page.screenshot(path=str(out_dir / "conversation-tablet.png"))
    # At tablet width the customer folds away behind a button.
    expect(page.locator(".pane-customer")).to_be_hidden()
    page.get_by_role("button", name="Customer").click()
    expect(page.locator(".customer-name")).to_be_visible()
    assert page.errors == []
