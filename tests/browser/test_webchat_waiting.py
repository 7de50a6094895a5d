"""Screenshots of what a web chat visitor sees while nobody has answered yet, in English and Spanish:
the notice that nobody is available with the email field, their place in line, then "Seen" once the
agent opened the chat, and the agent's reply (the console marks it seen). `HUB_SCREENSHOTS=1` writes
docs/screenshots/widget-waiting-LANG.png and widget-seen-LANG.png; otherwise they go to a temporary
folder and this is one more browser test of the same."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect

from tests.browser import webchat_shop as site
from tests.browser.conftest import Hub
from tests.browser.webchat_shop import customer, hub, shop

__all__ = ["customer", "hub", "shop"]  # the web chat's fixtures, used here

WORDS = {
    "en": {"away": "No one is available to chat right now.", "email": "Your email", "save": "Save",
           "saved": "Thanks! We'll answer at", "line": "in line", "seen": "Seen",
           "said": "Hello! Did my parcel leave the warehouse?", "reply": "Hi Lucía, it left this morning."},
    "es": {"away": "Ahora mismo no hay nadie disponible para chatear.",
           "email": "Tu correo electrónico", "save": "Guardar", "saved": "¡Gracias! Te responderemos en",
           "line": "en la cola", "seen": "Visto", "said": "¡Hola! ¿Ha salido ya mi paquete del almacén?",
           "reply": "Hola, Lucía: ha salido esta mañana."},
}


@pytest.mark.parametrize("lang", ["en", "es"])
def test_screenshots_of_a_visitor_waiting_then_seen(hub: Hub, customer: Any, new_page: Any, lang: str,
                                                     tmp_path: Path) -> None:
    out = site.screenshots_folder(tmp_path)
    w = {**site.OPENING[lang], **WORDS[lang]}
    page = customer(f"/?lang={lang}")
    widget = site.start_chat(page, "Lucía", lang)
    away = widget.locator(".away")
    expect(away).to_contain_text(w["away"])
    widget.get_by_placeholder(w["box"]).fill(w["said"])
    widget.get_by_placeholder(w["box"]).press("Enter")
    widget.get_by_label(w["email"]).fill(f"lucia-{lang}@example.com")
    widget.get_by_role("button", name=w["save"]).click()
    expect(away).to_contain_text(w["saved"])
    expect(widget.locator(".queue")).to_contain_text(w["line"])
    page.locator("hub-webchat").screenshot(path=str(out / f"widget-waiting-{lang}.png"))

    conversation = site.conversation_with(hub, w["said"])
    agent, console = site.answered_by(hub, new_page, conversation, "Ana García")
    expect(widget.locator(".msg.in + .seen")).to_have_text(w["seen"])
    console.locator("#composer-text").fill(w["reply"])
    console.keyboard.press("Enter")
    expect(widget.locator(".msg.out")).to_contain_text(w["reply"])
    expect(console.locator(".msg-out .delivery-seen")).to_be_visible()
    expect(widget.locator(".queue")).to_be_hidden()
    expect(away).to_be_hidden()  # an agent joined: the notice is gone
    page.locator("hub-webchat").screenshot(path=str(out / f"widget-seen-{lang}.png"))
    assert page.errors == [] and console.errors == []
    # Her console put her online: she leaves, so the next visitor again finds nobody.
    assert hub.api("POST", "/api/v1/agents/me/presence", agent, json={"presence": "offline"}).status_code == 200
