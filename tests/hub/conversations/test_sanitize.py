"""HTML cleaning (hub.conversations.sanitize): done before the writer, never inside its shared
transaction; remote images in customers' HTML are kept but marked so they cannot load by
themselves. On SQLite and PostgreSQL where data is stored."""

from __future__ import annotations

import threading

import pytest
from fastapi.testclient import TestClient

from hub.conversations import sanitize
from hub.conversations.models import Message
from hub.conversations.sanitize import sanitize_html
from hub.db import Database
from tests.factories import api_key, inbound, login

pytestmark = pytest.mark.usefixtures("cheap_password_hashing")


def test_remote_images_are_marked_and_inline_ones_kept() -> None:
    raw = ('<p>Hi<img src="https://track.example/open.gif?id=7&amp;x=1" alt="a &gt; b" width="1">'
           '<IMG SRC="HTTP://cdn.example/logo.png"><img src="cid:part1"><img src="javascript:alert(1)">'
           '<img data-remote-src="https://evil.example/forged.gif" src="cid:ok"></p>')
    clean = sanitize_html(raw, block_remote_images=True)
    assert clean == ('<p>Hi<img data-remote-src="https://track.example/open.gif?id=7&amp;x=1" alt="a &gt; b" '
                     'width="1"><img data-remote-src="HTTP://cdn.example/logo.png"><img src="cid:part1"><img>'
                     '<img src="cid:ok"></p>')
    # An agent's own HTML leaves as an email body: its images are left as they are.
    assert sanitize_html('<img src="https://cdn.example/logo.png">') == '<img src="https://cdn.example/logo.png">'


@pytest.mark.parametrize("src", [
    "//evil.example/x.png", " https://evil.example/x.png", "\nhttps://evil.example/x.png",
    "ht\ttps://evil.example/x.png", "https:evil.example/x.png", "/api/v1/agents/me", "x.png",
    "data:image/svg+xml,<svg></svg>", "data:text/html,<b>x</b>",
])
def test_no_other_image_source_stays_loadable(src: str) -> None:
    """Whatever a browser would fetch loses its `src` (a relative or protocol-relative URL would be a
    request to the hub from the frame, with the agent's cookies); "Show images" gives back absolute
    http(s) ones only."""
    clean = sanitize_html(f'<p>x<img alt="a" src="{src}"></p>', block_remote_images=True)
    assert clean is not None and " src=" not in clean, clean
    web = src.replace("\t", "").strip().startswith("https://")
    assert (' src="https://evil.example/x.png"' in sanitize.show_remote_images(clean)) == web
    # An agent's own HTML keeps its absolute web images (it leaves as an email body), nothing else.
    assert (sanitize_html(f'<img src="{src}">') == '<img src="https://evil.example/x.png">') == web


def test_only_inline_and_raster_data_images_keep_their_source() -> None:
    raw = '<img src="cid:part1"><img src="data:image/png;base64,iVBORw0KGgo="><img src=" DATA:image/GIF;base64,R0lG">'
    assert sanitize_html(raw, block_remote_images=True) == (
        '<img src="cid:part1"><img src="data:image/png;base64,iVBORw0KGgo="><img src="DATA:image/GIF;base64,R0lG">')


@pytest.mark.parametrize("href", ["/api/v1/agents/me", "//evil.example/", "x.html", "#top", " javascript:alert(1)",
                                  "data:text/html,x", "https:evil.example"])
def test_links_keep_only_absolute_web_and_mail_targets(href: str) -> None:
    for block in (True, False):
        assert sanitize_html(f'<a href="{href}">a</a>', block_remote_images=block) == (
            '<a rel="noopener noreferrer nofollow">a</a>')
    assert sanitize_html('<a href=" https://ok.example/">a</a><a href="mailto:a@b.example">b</a>') == (
        '<a href="https://ok.example/" rel="noopener noreferrer nofollow">a</a>'
        '<a href="mailto:a@b.example" rel="noopener noreferrer nofollow">b</a>')


def test_nothing_else_names_an_image_or_a_stylesheet() -> None:
    raw = ('<style>p{background:url(https://evil.example/s)}</style>'
           '<img srcset="https://evil.example/a 1x" style="background:url(https://evil.example/b)">'
           '<table background="https://evil.example/c"><tr><td background="/d" style="background:url(/e)">x</td>'
           '</tr></table><div style="background-image:url(//evil.example/f)">y</div>')
    clean = sanitize_html(raw, block_remote_images=True)
    assert clean == '<img><table><tbody><tr><td>x</td></tr></tbody></table><div>y</div>'


def _record_cleaning_threads(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    threads: list[str] = []
    real = sanitize.sanitize_html

    def recorded(raw: str | None, *, block_remote_images: bool = False) -> str | None:
        threads.append(threading.current_thread().name)
        return real(raw, block_remote_images=block_remote_images)

    monkeypatch.setattr(sanitize, "sanitize_html", recorded)
    return threads


@pytest.mark.parametrize("size", [100, 200_000], ids=["short", "long"])
def test_html_is_cleaned_before_the_writer_for_messages_and_replies(
    client: TestClient, db: Database, monkeypatch: pytest.MonkeyPatch, size: int
) -> None:
    threads = _record_cleaning_threads(monkeypatch)
    key = api_key(db)
    body = "<p>" + "x" * size + '<script>bad()</script><img src="https://t.example/p.gif"></p>'
    resp = client.post("/api/v1/inbound/messages", headers={"X-Api-Key": key}, json={
        "source": "crm", "external_id": f"html-{size}", "contact": {"email": "h@example.com"}, "text": "hi",
        "html": body})
    assert resp.status_code == 201, resp.text
    agent = login(client, db, "agent")
    reply = client.post(f"/api/v1/conversations/{resp.json()['conversation_id']}/messages", headers=agent.headers,
                        json={"text": "ok", "html": body})
    assert reply.status_code == 201, reply.text

    assert len(threads) == 2 and "ingest-writer" not in threads, threads
    with db.read() as s:
        stored = s.get(Message, resp.json()["message_id"])
        sent = s.get(Message, reply.json()["id"])
        assert stored is not None and sent is not None
        assert stored.html is not None and "script" not in stored.html
        assert 'data-remote-src="https://t.example/p.gif"' in stored.html and " src=" not in stored.html
        assert sent.html is not None and "script" not in sent.html and 'src="https://t.example/p.gif"' in sent.html
    assert inbound(client, key, email="h@example.com")["duplicate"] is False
