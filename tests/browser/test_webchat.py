"""The web chat widget as customers use it, on a shop's own site (another origin), with an agent
answering in the console: a conversation both ways with a reload, the widget in Spanish, and a
host page whose stylesheet tries to break it."""

from __future__ import annotations

import os
import struct
import threading
import zlib
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect
from sqlalchemy import text

from tests.browser.conftest import VIEWPORT, Hub, running_hub
from tests.conftest import wait_for
from tests.factories import TINY_PNG
from tests.services import free_port

FILE_LIMIT = 256 * 1024
PDF = b"%PDF-1.7\n1 0 obj\n<<>>\nendobj\ntrailer\n<<>>\n%%EOF\n"

HOSTILE_CSS = """
* { font-size: 48px !important; color: transparent !important; letter-spacing: 20px !important; }
body * { display: none !important; }
hub-webchat, div, section, button { display: none !important; visibility: hidden !important;
  opacity: 0 !important; transform: scale(0) !important; }
div, p, textarea { font-size: 2px !important; }
hub-webchat { position: static !important; pointer-events: none !important; }
"""


class Shop:
    """The customer's site: a page embedding the widget with the one-line snippet."""

    def __init__(self) -> None:
        self.port = free_port()
        self.hub_url = ""
        shop = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 (the stdlib's name)
                if self.path == "/hostile.css":
                    return self._answer("text/css", HOSTILE_CSS)
                hostile = '<link rel="stylesheet" href="/hostile.css">' if "hostile" in self.path else ""
                lang = ' data-lang="es"' if "lang=es" in self.path else ""
                widget = "night" if "night" in self.path else "shop"
                self._answer("text/html", f"""<!doctype html><html><head><title>Shop</title>{hostile}</head>
<body><h1>Our shop</h1><p>Products</p>
<script src="{shop.hub_url}/widget/loader.js" data-widget="{widget}"{lang} async></script></body></html>""")

            def _answer(self, kind: str, body: str) -> None:
                raw = body.encode()
                self.send_response(200)
                self.send_header("Content-Type", f"{kind}; charset=utf-8")
                self.send_header("Content-Length", str(len(raw)))
                self.end_headers()
                self.wfile.write(raw)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()

    @property
    def origin(self) -> str:
        return f"http://127.0.0.1:{self.port}"


@pytest.fixture(scope="module")
def shop() -> Iterator[Shop]:
    site = Shop()
    yield site
    site.server.shutdown()


@pytest.fixture(scope="module")
def hub(tmp_path_factory: pytest.TempPathFactory, sqlite_template: Path, cheap_hashing: None,
        shop: Shop) -> Iterator[Hub]:
    widget = {"id": "shop", "name": "Shop help", "colour": "#0a7d4f", "allowed_origins": [shop.origin],
              "prechat_fields": ["name", "email"], "prechat_required": ["name"], "max_file_bytes": FILE_LIMIT}
    # Open on no day of the week: always closed.
    night = {"id": "night", "name": "Night shop", "allowed_origins": [shop.origin],
             "business_hours": {"timezone": "Europe/Madrid", "days": {}}}
    for server in running_hub(tmp_path_factory, sqlite_template, secret_key="browser-test-key",
                              webchat={"widgets": [widget, night]}):
        shop.hub_url = server.url
        yield server


@pytest.fixture
def customer(browser: Any, shop: Shop) -> Iterator[Any]:
    contexts: list[Any] = []

    def open_shop(path: str = "/", *, locale: str = "en-US") -> Any:
        context = browser.new_context(viewport=VIEWPORT, locale=locale)
        contexts.append(context)
        page = context.new_page()
        page.errors = []  # type: ignore[attr-defined]
        page.on("pageerror", lambda exc: page.errors.append(str(exc)))  # type: ignore[attr-defined]
        page.goto(shop.origin + path)
        return page

    yield open_shop
    for context in contexts:
        context.close()


def _conversation_with(hub: Hub, said: str) -> int:
    def find() -> int | None:
        with hub.db.read() as s:
            return s.execute(text("SELECT conversation_id FROM messages WHERE text = :t"), {"t": said}).scalar()
    return int(wait_for(find, what=f"the message {said!r} stored"))


def _widget(page: Any) -> Any:
    return page.locator("hub-webchat")


def test_a_customer_and_an_agent_chat_both_ways_across_a_reload(hub: Hub, customer: Any, new_page: Any) -> None:
    page = customer()
    widget = _widget(page)
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

    conversation = _conversation_with(hub, said)
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
    widget = _widget(page)
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
        widget = _widget(page)
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
    widget = _widget(page)
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
    said = _conversation_with(hub, "¿Abrís mañana?")
    with hub.db.read() as s:
        kept = s.execute(text("SELECT i.address FROM contact_identities i JOIN conversations v "
                              "ON v.contact_id = i.contact_id WHERE v.id = :c AND i.kind = 'claimed:email'"),
                         {"c": said}).scalar_one()
    assert kept == "noche@example.com" and page.errors == []  # their claim (never an address they are found by)


def test_a_hostile_host_stylesheet_does_not_break_the_widget(hub: Hub, customer: Any) -> None:
    page = customer("/?hostile=1")
    expect(page.locator("h1")).to_be_hidden()  # the page's own stylesheet did apply to the page
    widget = _widget(page)
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
    assert _conversation_with(hub, "Can you read me?") > 0
    assert page.errors == []


def _start_chat(page: Any, name: str) -> Any:
    widget = _widget(page)
    widget.get_by_role("button", name="Chat with us").click()
    widget.get_by_label("Name").fill(name)
    widget.get_by_role("button", name="Start chatting").click()
    return widget


def _answered_by(hub: Hub, new_page: Any, conversation: int, name: str) -> tuple[Any, Any]:
    """An agent of that name, given the conversation by a supervisor, with it open in their console."""
    agent = hub.agent(name=name)
    assert hub.api("POST", f"/api/v1/conversations/{conversation}/assign", hub.agent("supervisor"),
                   json={"assignee_id": agent.id}).status_code == 200
    return agent, new_page(agent, path=f"/#/c/{conversation}")


def test_files_go_both_ways_and_a_refused_file_says_why(hub: Hub, customer: Any, new_page: Any) -> None:
    page = customer()
    widget = _start_chat(page, "Marta")
    picker = widget.locator("input[type=file]")
    widget.get_by_placeholder("Write a message…").fill("Here is the broken part")
    picker.set_input_files({"name": "part.png", "mimeType": "image/png", "buffer": TINY_PNG})
    photo = widget.locator(".msg.in img")
    expect(photo).to_have_attribute("alt", "part.png")
    page.wait_for_function("() => { const i = document.querySelector('hub-webchat').shadowRoot"
                           ".querySelector('.msg.in img'); return i && i.complete && i.naturalWidth > 0; }")
    expect(widget.locator(".msg.in.pending")).to_have_count(0)

    conversation = _conversation_with(hub, "Here is the broken part")
    _, console = _answered_by(hub, new_page, conversation, "Fede Files")
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


def test_a_dropped_connection_on_each_side_loses_and_repeats_nothing_and_the_customer_rates(
        hub: Hub, customer: Any, new_page: Any) -> None:
    page = customer()
    widget = _start_chat(page, "Rosa")
    box = widget.get_by_placeholder("Write a message…")
    box.fill("My order never came")
    box.press("Enter")
    expect(widget.locator(".msg.in.pending")).to_have_count(0)
    conversation = _conversation_with(hub, "My order never came")
    agent, console = _answered_by(hub, new_page, conversation, "Olga Offline")
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
    expect(_widget(page).get_by_text("Thank you for your rating!")).to_be_visible()
    expect(_widget(page).locator("form.rating")).to_have_count(0)
    expect(_widget(page).locator(".msg")).to_have_count(4)
    assert page.errors == [] and console.errors == []


def _picture(width: int = 180, height: int = 110) -> bytes:
    """A real PNG (a gradient), for a thumbnail worth looking at in the screenshots."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    rows = b"".join(b"\0" + bytes(v for x in range(width) for v in (40 + x, 120 + y, 200 - x // 2))
                    for y in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b"")


WORDS = {"en": {"open": "Chat with us", "name": "Name", "start": "Start chatting", "box": "Write a message…",
                "question": "How did we do?", "star": "4 out of 5", "comment": "Anything to add? (optional)"},
         "es": {"open": "Chatea con nosotros", "name": "Nombre", "start": "Empezar a chatear",
                "box": "Escribe un mensaje…", "question": "¿Qué tal lo hemos hecho?", "star": "4 de 5",
                "comment": "¿Algo que añadir? (opcional)"}}


@pytest.mark.parametrize("lang", ["en", "es"])
def test_screenshots_of_the_widget_with_a_picture_a_file_and_the_rating(
        hub: Hub, customer: Any, new_page: Any, lang: str, tmp_path: Path) -> None:
    """`HUB_SCREENSHOTS=1` writes them into docs/screenshots/ (widget-files-LANG.png, widget-LANG.png)."""
    docs = Path(__file__).resolve().parents[2] / "docs" / "screenshots"
    out = docs if os.environ.get("HUB_SCREENSHOTS") else tmp_path
    words = WORDS[lang]
    page = customer(f"/?lang={lang}")
    widget = _widget(page)
    widget.get_by_role("button", name=words["open"]).click()
    widget.get_by_label(words["name"]).fill("Lucía")
    widget.get_by_role("button", name=words["start"]).click()
    said = f"{lang}: the box arrived like this"
    widget.get_by_placeholder(words["box"]).fill(said)
    widget.locator("input[type=file]").set_input_files({"name": "box.png", "mimeType": "image/png",
                                                        "buffer": _picture()})
    expect(widget.locator(".msg.in img")).to_have_attribute("alt", "box.png")
    page.wait_for_function("() => { const i = document.querySelector('hub-webchat').shadowRoot"
                           ".querySelector('.msg.in img'); return i && i.complete && i.naturalWidth === 180; }")
    conversation = _conversation_with(hub, said)
    agent, console = _answered_by(hub, new_page, conversation, "Ana García")
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
