"""The web chat widget as customers use it, on a shop's own site (another origin), with an agent
answering in the console: a conversation both ways with a reload, the widget in Spanish, and a
host page whose stylesheet tries to break it."""

from __future__ import annotations

import struct
import time
import zlib
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect
from sqlalchemy import text

from channels.webchat.files import LINK_LIFETIME
from tests.browser.conftest import Hub
from tests.browser.webchat_shop import (
    FILE_LIMIT,
    OPENING,
    answered_by,
    conversation_with,
    customer,
    hub,
    screenshots_folder,
    shop,
    start_chat,
    widget_of,
)
from tests.factories import TINY_PNG

__all__ = ["customer", "hub", "shop"]  # the web chat's fixtures, used here

PDF = b"%PDF-1.7\n1 0 obj\n<<>>\nendobj\ntrailer\n<<>>\n%%EOF\n"


def test_a_customer_and_an_agent_chat_both_ways_across_a_reload(hub: Hub, customer: Any, new_page: Any) -> None:
    page = customer()
    widget = widget_of(page)
    widget.get_by_role("button", name="Chat with us").click()
    expect(widget.get_by_text("Before we start, tell us who you are.")).to_be_visible()
    widget.get_by_role("button", name="Start chatting").click()
    expect(widget.get_by_text("Please fill this in.")).to_be_visible()  # the name is required
    widget.get_by_label("Name").fill("Lucía <b>Bold</b>")
    widget.get_by_label("Email (optional)").fill("not-an-email")
    widget.get_by_role("button", name="Start chatting").click()
    expect(widget.get_by_text("This is not an email address.")).to_be_visible()
    widget.get_by_label("Email (optional)").fill("lucia@example.com")
    widget.get_by_role("button", name="Start chatting").click()
    # Nobody is online: the widget says so, and already has an address to answer by email.
    expect(widget.locator(".away")).to_contain_text("No one is available to chat right now.")
    expect(widget.locator(".away")).to_contain_text("Thanks! We'll answer at lucia@example.com.")
    box = widget.get_by_placeholder("Write a message…")
    box.fill("Hi! <img src=x onerror=alert(1)> Where is my order?")
    box.press("Enter")
    said = "Hi! <img src=x onerror=alert(1)> Where is my order?"
    expect(widget.locator(".msg.in")).to_contain_text(said)  # as text, not markup
    expect(widget.locator(".msg.in.pending")).to_have_count(0)  # acknowledged
    # Nobody is online yet: the customer is first in line, and no wait is promised without data.
    expect(widget.locator(".queue")).to_have_text("You are next in line")

    conversation = conversation_with(hub, said)
    ana = hub.agent(name="Ana Chat")
    boss = hub.agent("supervisor")
    assert hub.api("POST", f"/api/v1/conversations/{conversation}/assign", boss,
                   json={"assignee_id": ana.id}).status_code == 200
    console = new_page(ana, path=f"/#/c/{conversation}")
    expect(console.locator(".msg-in")).to_contain_text("Where is my order?")
    expect(widget.get_by_text("Ana Chat joined the chat")).to_be_visible()
    expect(widget.locator(".queue")).to_be_hidden()  # no longer waiting
    expect(widget.locator(".msg.in + .seen")).to_have_text("Seen")  # Ana opened it: read
    widget.get_by_placeholder("Write a message…").press_sequentially("Also")  # typing, both ways
    expect(console.get_by_text("Lucía <b>Bold</b> is typing…")).to_be_visible()
    console.locator("#composer-text").press_sequentially("Hello Lucía, it ships tomorrow.")
    expect(widget.get_by_text("Ana Chat is typing…")).to_be_visible()
    console.keyboard.press("Enter")
    answer = widget.locator(".msg.out")
    expect(answer).to_contain_text("Hello Lucía, it ships tomorrow.")
    expect(answer.locator(".who")).to_have_text("Ana Chat")
    expect(console.locator(".msg-out .delivery-seen")).to_have_text("Seen")  # the widget showed it

    page.reload()  # the token and the open panel are remembered; the history comes back once
    widget = widget_of(page)
    expect(widget.locator(".msg")).to_have_count(2)
    expect(widget.locator(".msg.out")).to_contain_text("it ships tomorrow")
    widget.get_by_placeholder("Write a message…").fill("Great, thanks!")
    widget.get_by_role("button", name="Send").click()
    expect(console.locator(".msg-in").last).to_contain_text("Great, thanks!")
    expect(widget.locator(".msg")).to_have_count(3)
    assert page.evaluate("document.querySelectorAll('img').length") == 0
    assert page.errors == [] and console.errors == []


def test_the_widget_speaks_spanish_from_the_browser_or_the_site(hub: Hub, customer: Any) -> None:
    for page in (customer(locale="es-ES"), customer("/?lang=es")):
        widget = widget_of(page)
        widget.get_by_role("button", name="Chatea con nosotros").click()
        expect(widget.get_by_text("Antes de empezar, dinos quién eres.")).to_be_visible()
        widget.get_by_label("Nombre").fill("Pablo")
        widget.get_by_role("button", name="Empezar a chatear").click()
        expect(widget.get_by_placeholder("Escribe un mensaje…")).to_be_visible()
        expect(widget.get_by_role("button", name="Enviar")).to_be_visible()
        widget.get_by_placeholder("Escribe un mensaje…").fill("¿Hay alguien?")
        widget.get_by_role("button", name="Enviar").click()
        expect(widget.locator(".queue")).to_contain_text("en la cola")
        assert page.errors == []


def test_outside_business_hours_the_widget_says_so_takes_the_message_and_an_email(hub: Hub, customer: Any) -> None:
    page = customer("/?night=1&lang=es")
    widget = widget_of(page)
    widget.get_by_role("button", name="Chatea con nosotros").click()
    away = widget.locator(".away")
    expect(away).to_contain_text("Ahora mismo estamos cerrados.")
    expect(away).to_contain_text("Déjanos tu mensaje y tu correo")
    widget.get_by_placeholder("Escribe un mensaje…").fill("¿Abrís mañana?")
    widget.get_by_role("button", name="Enviar").click()
    expect(widget.locator(".msg.in.pending")).to_have_count(0)  # taken all the same
    email = widget.get_by_label("Tu correo electrónico")
    email.fill("no-es-un-correo")
    widget.get_by_role("button", name="Guardar").click()
    expect(away).to_contain_text("Esta no es una dirección de correo válida.")
    email.fill("noche@example.com")
    widget.get_by_role("button", name="Guardar").click()
    expect(away).to_contain_text("¡Gracias! Te responderemos en noche@example.com.")
    said = conversation_with(hub, "¿Abrís mañana?")
    with hub.db.read() as s:
        kept = s.execute(text("SELECT i.address FROM contact_identities i JOIN conversations v "
                              "ON v.contact_id = i.contact_id WHERE v.id = :c AND i.kind = 'claimed:email'"),
                         {"c": said}).scalar_one()
    assert kept == "noche@example.com" and page.errors == []  # their claim (never an address they are found by)


def test_a_hostile_host_stylesheet_does_not_break_thewidget_of(hub: Hub, customer: Any) -> None:
    page = customer("/?hostile=1")
    expect(page.locator("h1")).to_be_hidden()  # the page's own stylesheet did apply to the page
    widget = widget_of(page)
    launcher = widget.get_by_role("button", name="Chat with us")
    expect(launcher).to_be_visible()
    launcher.click()
    panel = widget.locator(".panel")
    expect(panel).to_be_visible()
    box = panel.bounding_box()
    assert box is not None and 300 <= box["width"] <= 360 and box["height"] > 300
    size = widget.get_by_role("button", name="Start chatting").evaluate("b => getComputedStyle(b).fontSize")
    assert size == "14px"
    colour = widget.locator("header h2").evaluate("h => getComputedStyle(h).color")
    assert colour == "rgb(255, 255, 255)"
    # Still usable: the form, a message, its bubble in the widget's own type size.
    widget.get_by_label("Name").fill("Hostile Host")
    widget.get_by_role("button", name="Start chatting").click()
    box = widget.get_by_placeholder("Write a message…")
    box.fill("Can you read me?")
    box.press("Enter")
    bubble = widget.locator(".msg.in")
    expect(bubble).to_contain_text("Can you read me?")
    expect(widget.locator(".msg.in.pending")).to_have_count(0)
    assert bubble.evaluate("b => getComputedStyle(b).fontSize") == "14px"
    assert conversation_with(hub, "Can you read me?") > 0
    assert page.errors == []


def test_files_go_both_ways_and_a_refused_file_says_why(hub: Hub, customer: Any, new_page: Any) -> None:
    page = customer()
    widget = start_chat(page, "Marta")
    picker = widget.locator("input[type=file]")
    widget.get_by_placeholder("Write a message…").fill("Here is the broken part")
    picker.set_input_files({"name": "part.png", "mimeType": "image/png", "buffer": TINY_PNG})
    photo = widget.locator(".msg.in img")
    expect(photo).to_have_attribute("alt", "part.png")
    page.wait_for_function("() => { const i = document.querySelector('hub-webchat').shadowRoot"
                           ".querySelector('.msg.in img'); return i && i.complete && i.naturalWidth > 0; }")
    expect(widget.locator(".msg.in.pending")).to_have_count(0)

    conversation = conversation_with(hub, "Here is the broken part")
    _, console = answered_by(hub, new_page, conversation, "Fede Files")
    expect(console.locator(".msg-in .attachments img.thumb")).to_have_attribute("alt", "part.png")
    console.locator("#composer-file").set_input_files({"name": "invoice.pdf", "mimeType": "application/pdf",
                                                       "buffer": PDF})
    expect(console.locator(".chip[data-state=ready]")).to_have_count(1)
    console.locator("#composer-text").fill("Your invoice is attached.")
    console.keyboard.press("Enter")
    link = widget.locator(".msg.out a.file")
    expect(link).to_contain_text("invoice.pdf")
    with page.expect_download() as download:
        link.click()
    assert download.value.suggested_filename == "invoice.pdf"
    assert Path(download.value.path()).read_bytes() == PDF

    # Refused, with words the visitor understands: a web page named like a picture, a file too big.
    picker.set_input_files({"name": "cat.png", "mimeType": "image/png", "buffer": b"<!doctype html><script>1</script>"})
    expect(widget.get_by_text("Only pictures (PNG, JPEG, GIF, WebP) and PDF files can be sent.")).to_be_visible()
    picker.set_input_files({"name": "big.pdf", "mimeType": "application/pdf", "buffer": PDF * (FILE_LIMIT // 40)})
    expect(widget.get_by_text("This file is too large: the limit is 256 KB.")).to_be_visible()
    expect(widget.locator(".msg")).to_have_count(2)
    assert page.errors == [] and console.errors == []


def test_a_file_clicked_a_day_later_asks_for_a_reload_which_brings_it_back(hub: Hub, customer: Any) -> None:
    """A PDF's link is fetched when the visitor clicks it: in a tab left open past the link's
    lifetime the widget says so, and a reload signs the history's links anew."""
    page = customer()
    widget = start_chat(page, "Nora")
    box = widget.get_by_placeholder("Write a message…")
    box.fill("Could you send the manual?")
    box.press("Enter")
    conversation = conversation_with(hub, "Could you send the manual?")
    agent = hub.agent(name="Mia Manuals")
    assert hub.api("POST", f"/api/v1/conversations/{conversation}/assign", hub.agent("supervisor"),
                   json={"assignee_id": agent.id}).status_code == 200
    up = hub.api("POST", "/api/v1/attachments", agent, files={"file": ("manual.pdf", PDF, "application/pdf")})
    assert hub.api("POST", f"/api/v1/conversations/{conversation}/messages", agent,
                   json={"text": "Here it is.", "attachments": [up.json()["id"]]}).status_code == 201
    link = widget.locator(".msg.out a.file")
    expect(link).to_contain_text("manual.pdf")

    assert hub.server is not None
    files = hub.server.app.state.hub.adapters["webchat"].files
    files.clock = lambda: time.time() + LINK_LIFETIME.total_seconds() + 60  # the next day, same tab
    try:
        link.click()
        expect(widget.get_by_text("This file's link has expired: reload the page to open it.")).to_be_visible()
        page.reload()
        link = widget_of(page).locator(".msg.out a.file")
        with page.expect_download() as download:
            link.click()
        assert Path(download.value.path()).read_bytes() == PDF
    finally:
        files.clock = time.time
    assert page.errors == []


def test_a_dropped_connection_on_each_side_loses_and_repeats_nothing_and_the_customer_rates(
        hub: Hub, customer: Any, new_page: Any) -> None:
    page = customer()
    widget = start_chat(page, "Rosa")
    box = widget.get_by_placeholder("Write a message…")
    box.fill("My order never came")
    box.press("Enter")
    expect(widget.locator(".msg.in.pending")).to_have_count(0)
    conversation = conversation_with(hub, "My order never came")
    agent, console = answered_by(hub, new_page, conversation, "Olga Offline")
    expect(console.locator(".msg-in")).to_have_count(1)
    expect(widget.get_by_text("Olga Offline joined the chat")).to_be_visible()

    # The customer's network drops: what the agent writes meanwhile, and what the customer writes
    # meanwhile, both arrive once when it is back.
    page.context.set_offline(True)
    expect(widget.get_by_text("Connection lost: reconnecting…")).to_be_visible()
    console.locator("#composer-text").fill("Sorry Rosa, I am checking it now.")
    console.keyboard.press("Enter")
    expect(console.locator(".msg-out")).to_contain_text("I am checking it now")
    box.fill("Are you still there?")
    box.press("Enter")
    expect(widget.locator(".msg.in.pending")).to_have_count(1)
    page.context.set_offline(False)
    expect(widget.locator(".msg.out")).to_have_count(1, timeout=20_000)
    expect(widget.locator(".msg.out")).to_contain_text("I am checking it now")
    expect(widget.locator(".msg.in.pending")).to_have_count(0, timeout=20_000)
    expect(console.locator(".msg-in", has_text="Are you still there?")).to_have_count(1)

    # The agent's network drops: the customer's messages meanwhile arrive once when it is back.
    console.context.set_offline(True)
    expect(console.locator("body[data-connection=offline]")).to_have_count(1)
    box.fill("It was a birthday present")
    box.press("Enter")
    expect(widget.locator(".msg.in.pending")).to_have_count(0)
    expect(console.locator(".msg-in", has_text="It was a birthday present")).to_have_count(0)
    console.context.set_offline(False)
    expect(console.locator(".msg-in", has_text="It was a birthday present")).to_have_count(1, timeout=20_000)
    expect(console.locator(".msg-in")).to_have_count(3)
    expect(widget.locator(".msg")).to_have_count(4)

    # Resolved: the widget asks for a rating; the console shows it on the conversation's timeline.
    assert hub.api("POST", f"/api/v1/conversations/{conversation}/status", agent,
                   json={"status": "resolved"}).status_code == 200
    expect(widget.get_by_text("How did we do?")).to_be_visible()
    widget.get_by_role("button", name="Rate", exact=True).click()
    expect(widget.get_by_text("Choose from 1 to 5 stars.")).to_be_visible()
    widget.get_by_role("radio", name="4 out of 5").click()
    widget.get_by_label("Anything to add? (optional)").fill("Kind, but <i>slow</i>")
    widget.get_by_role("button", name="Rate", exact=True).click()
    expect(widget.get_by_text("Thank you for your rating!")).to_be_visible()
    expect(widget.locator("form.rating")).to_have_count(0)
    rated = console.locator(".thread li.event[data-type='conversation.rated']")
    expect(rated).to_contain_text("rated this conversation 4/5: “Kind, but <i>slow</i>”")

    page.reload()  # the rating was given: thanked again, not asked again
    expect(widget_of(page).get_by_text("Thank you for your rating!")).to_be_visible()
    expect(widget_of(page).locator("form.rating")).to_have_count(0)
    expect(widget_of(page).locator(".msg")).to_have_count(4)
    assert page.errors == [] and console.errors == []


def _picture(width: int = 180, height: int = 110) -> bytes:
    """A real PNG (a gradient), for a thumbnail worth looking at in the screenshots."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    rows = b"".join(b"\0" + bytes(v for x in range(width) for v in (40 + x, 120 + y, 200 - x // 2))
                    for y in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b"")


WORDS = {"en": {"question": "How did we do?", "star": "4 out of 5", "comment": "Anything to add? (optional)"},
         "es": {"question": "¿Qué tal lo hemos hecho?", "star": "4 de 5", "comment": "¿Algo que añadir? (opcional)"}}


@pytest.mark.parametrize("lang", ["en", "es"])
def test_screenshots_of_the_widget_with_a_picture_a_file_and_the_rating(
        hub: Hub, customer: Any, new_page: Any, lang: str, tmp_path: Path) -> None:
    """`HUB_SCREENSHOTS=1` writes them into docs/screenshots/ (widget-files-LANG.png, widget-LANG.png)."""
    out = screenshots_folder(tmp_path)
    words = {**OPENING[lang], **WORDS[lang]}
    page = customer(f"/?lang={lang}")
    widget = start_chat(page, "Lucía", lang)
    said = f"{lang}: the box arrived like this"
    widget.get_by_placeholder(words["box"]).fill(said)
    widget.locator("input[type=file]").set_input_files({"name": "box.png", "mimeType": "image/png",
                                                        "buffer": _picture()})
    expect(widget.locator(".msg.in img")).to_have_attribute("alt", "box.png")
    page.wait_for_function("() => { const i = document.querySelector('hub-webchat').shadowRoot"
                           ".querySelector('.msg.in img'); return i && i.complete && i.naturalWidth === 180; }")
    conversation = conversation_with(hub, said)
    agent, console = answered_by(hub, new_page, conversation, "Ana García")
    console.locator("#composer-file").set_input_files({"name": "return-label.pdf", "mimeType": "application/pdf",
                                                       "buffer": PDF})
    expect(console.locator(".chip[data-state=ready]")).to_have_count(1)
    console.locator("#composer-text").fill("Sorry! Print this label and we send a new one today.")
    console.keyboard.press("Enter")
    expect(widget.locator(".msg.out a.file")).to_contain_text("return-label.pdf")
    page.locator("hub-webchat").screenshot(path=str(out / f"widget-files-{lang}.png"))
    assert hub.api("POST", f"/api/v1/conversations/{conversation}/status", agent,
                   json={"status": "resolved"}).status_code == 200
    expect(widget.get_by_text(words["question"])).to_be_visible()
    widget.get_by_role("radio", name=words["star"]).click()
    widget.get_by_label(words["comment"]).fill("Rápido y amable" if lang == "es" else "Quick and kind")
    page.locator("hub-webchat").screenshot(path=str(out / f"widget-{lang}.png"))
    widget.locator("form.rating button[type=submit]").click()
    rated = console.locator(".thread li.event[data-type='conversation.rated']")
    expect(rated).to_contain_text("4/5")
    console.screenshot(path=str(tmp_path / "console.png"))
    assert page.errors == [] and console.errors == []
