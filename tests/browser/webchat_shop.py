"""The web chat as its browser tests meet it: a shop's site (another origin) embedding the widget
with the one-line snippet, the hub serving it (module fixtures `shop`, `hub`, `customer`: import
them into a test module to use them), and the steps a visitor or an agent takes there."""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text

from tests.browser.conftest import VIEWPORT, Hub, running_hub
from tests.conftest import wait_for
from tests.services import free_port

# The widget's words for opening it, its pre-chat form and its message box.
OPENING = {"en": {"open": "Chat with us", "name": "Name", "start": "Start chatting", "box": "Write a message…"},
           "es": {"open": "Chatea con nosotros", "name": "Nombre", "start": "Empezar a chatear",
                  "box": "Escribe un mensaje…"}}
FILE_LIMIT = 256 * 1024  # the shop widget's largest file

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


def conversation_with(hub: Hub, said: str) -> int:
    def find() -> int | None:
        with hub.db.read() as s:
            return s.execute(text("SELECT conversation_id FROM messages WHERE text = :t"), {"t": said}).scalar()
    return int(wait_for(find, what=f"the message {said!r} stored"))


def widget_of(page: Any) -> Any:
    return page.locator("hub-webchat")


def start_chat(page: Any, name: str, lang: str = "en") -> Any:
    """Open the widget on the shop's page and start a chat as `name` through the pre-chat form: the
    widget's locator."""
    words = OPENING[lang]
    widget = widget_of(page)
    widget.get_by_role("button", name=words["open"]).click()
    widget.get_by_label(words["name"]).fill(name)
    widget.get_by_role("button", name=words["start"]).click()
    return widget


def answered_by(hub: Hub, new_page: Any, conversation: int, name: str) -> tuple[Any, Any]:
    """An agent of that name, given the conversation by a supervisor, with it open in their console."""
    agent = hub.agent(name=name)
    assert hub.api("POST", f"/api/v1/conversations/{conversation}/assign", hub.agent("supervisor"),
                   json={"assignee_id": agent.id}).status_code == 200
    return agent, new_page(agent, path=f"/#/c/{conversation}")


def screenshots_folder(tmp_path: Path) -> Path:
    """docs/screenshots with `HUB_SCREENSHOTS=1` (they are then written for the docs), else `tmp_path`."""
    docs = Path(__file__).resolve().parents[2] / "docs" / "screenshots"
    return docs if os.environ.get("HUB_SCREENSHOTS") else tmp_path
