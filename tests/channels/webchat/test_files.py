"""Files in the web chat against a real hub: a visitor sends a picture or a PDF (type read from the
bytes, within the widget's size limit), agents' files reach the visitor, and nobody else can
fetch them (another visitor, no token, another site)."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text

from channels.webchat.files import LINK_LIFETIME, FileRefs, Link
from config.settings import Settings
from hub.db import Database
from tests.channels.webchat.test_limits import Clock
from tests.channels.webchat.test_socket import SHOP, Visitor, conversation_of
from tests.conftest import make_settings
from tests.factories import TINY_PNG, AgentLogin, login

pytestmark = pytest.mark.usefixtures("cheap_password_hashing")
PDF = b"%PDF-1.7\n1 0 obj\n<<>>\nendobj\ntrailer\n<<>>\n%%EOF\n"
HTML = b"<!doctype html><html><body><script>alert(document.cookie)</script></body></html>"
SVG = b'<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>'
LIMIT = 4096


@pytest.fixture
def settings(database_url: str) -> Settings:
    widgets = [{"id": "shop", "allowed_origins": [SHOP], "max_file_bytes": LIMIT}]
    return make_settings(database_url, secret_key="test-hub-key",
                         webchat={"widgets": widgets, "visitor_uploads_per_minute": 4,
                                  "address_uploads_per_minute": 1000})


@pytest.fixture
def db(client: TestClient) -> Database:
    return client.app.state.hub.db  # type: ignore[attr-defined, no-any-return]


def upload(client: TestClient, token: str | None, content: bytes, name: str, declared: str = "image/png",
           origin: str = SHOP) -> httpx.Response:
    headers = {"origin": origin, "content-type": declared}
    if token:
        headers["authorization"] = f"Bearer {token}"
    return client.post("/widget/upload", params={"widget": "shop", "name": name}, content=content, headers=headers)


def fetch(client: TestClient, url: str, token: str | None, origin: str = SHOP) -> httpx.Response:
    headers = {"origin": origin, **({"authorization": f"Bearer {token}"} if token else {})}
    return client.get(url, headers=headers)


def stored_files(db: Database) -> int:
    with db.read() as s:
        return int(s.execute(text("SELECT COUNT(*) FROM attachments")).scalar_one())


def test_a_visitor_sends_a_picture_that_only_they_and_the_agents_can_fetch(
        client: TestClient, db: Database, visit: Any) -> None:
    visitor, stranger = visit(), visit()
    sent = upload(client, visitor.token, TINY_PNG, "photo.png")
    assert sent.status_code == 201, sent.text
    assert sent.headers["access-control-allow-origin"] == SHOP
    assert {k: sent.json()[k] for k in ("filename", "content_type", "kind")} == {
        "filename": "photo.png", "content_type": "image/png", "kind": "image"}
    ack = visitor.say("", "with-a-photo-1", files=[sent.json()["file"]])
    assert ack["type"] == "ack", ack
    event = visitor.event_where(lambda f: f["data"].get("id") == ack["message_id"])
    [shown] = event["data"]["attachments"]
    assert shown["filename"] == "photo.png" and shown["kind"] == "image"
    assert shown["url"].startswith("/widget/files/") and "/api/" not in shown["url"]

    mine = fetch(client, shown["url"], visitor.token)
    assert mine.status_code == 200 and mine.content == TINY_PNG
    assert mine.headers["content-disposition"] == "attachment" and mine.headers["x-content-type-options"] == "nosniff"
    assert fetch(client, shown["url"], stranger.token).status_code == 404  # another visitor
    assert fetch(client, shown["url"], None).status_code == 404  # the link alone
    assert fetch(client, shown["url"], visitor.token, origin="https://evil.example").status_code == 403
    forged = shown["url"].replace(f"/widget/files/{shown['id']}?", f"/widget/files/{shown['id'] + 1}?")
    assert fetch(client, forged, visitor.token).status_code == 404

    # The console shows it as it shows an email's: on the message, downloadable by agents.
    conversation_id, _ = conversation_of(db, ack["message_id"])
    admin = login(client, db, "admin")
    shown_to_agents = client.get(f"/api/v1/conversations/{conversation_id}", headers=admin.headers).json()
    [stored] = [m for m in shown_to_agents["messages"] if m["id"] == ack["message_id"]][0]["attachments"]
    assert stored["content_type"] == "image/png"
    assert client.get(stored["url"], headers=admin.headers).content == TINY_PNG


def test_the_type_is_read_from_the_bytes_not_the_name(client: TestClient, db: Database, visit: Any) -> None:
    visitor = visit()
    before = stored_files(db)
    for content, name in ((HTML, "cat.png"), (SVG, "logo.svg"), (SVG, "logo.png"), (b"MZ\x90\x00" * 64, "a.pdf")):
        refused = upload(client, visitor.token, content, name)
        assert refused.status_code == 415, (name, refused.text)
        assert refused.json()["error"] == "file_type"
    assert stored_files(db) == before  # nothing kept
    pdf = upload(client, visit().token, PDF, "invoice.png")  # a PDF named like a picture: taken as a PDF
    assert pdf.status_code == 201 and pdf.json()["content_type"] == "application/pdf"
    assert pdf.json()["kind"] == "file"


def test_a_file_over_the_widgets_limit_is_refused_with_the_limit(client: TestClient, db: Database,
                                                                  visit: Any) -> None:
    visitor = visit()
    before = stored_files(db)
    big = upload(client, visitor.token, PDF + b"0" * (LIMIT + 1 - len(PDF)), "big.pdf")
    assert big.status_code == 413
    assert big.json()["error"] == "too_large" and big.json()["max_bytes"] == LIMIT
    assert upload(client, visitor.token, PDF * 10_000, "huge.pdf").status_code == 413
    assert stored_files(db) == before
    empty = upload(client, visitor.token, b"", "empty.pdf")
    assert empty.status_code == 400 and empty.json()["error"] == "empty"


def test_uploads_need_the_visitors_token_an_allowed_site_and_a_moderate_pace(client: TestClient, db: Database,
                                                                               visit: Any) -> None:
    assert upload(client, None, TINY_PNG, "a.png").status_code == 401
    assert upload(client, "forged.token", TINY_PNG, "a.png").status_code == 401
    assert upload(client, login(client, db, "admin").token, TINY_PNG, "a.png").status_code == 401  # no visitor
    visitor = visit()
    assert upload(client, visitor.token, TINY_PNG, "a.png", origin="https://evil.example").status_code == 403
    preflight = client.options("/widget/upload?widget=shop", headers={
        "origin": SHOP, "access-control-request-method": "POST", "access-control-request-headers": "authorization"})
    assert preflight.status_code == 204 and preflight.headers["access-control-allow-origin"] == SHOP
    assert "authorization" in preflight.headers["access-control-allow-headers"]
    codes = [upload(client, visitor.token, TINY_PNG, "a.png").status_code for _ in range(5)]
    assert codes[-1] == 429 and 201 in codes


def test_a_visitor_cannot_send_a_file_another_visitor_uploaded(client: TestClient, visit: Any) -> None:
    owner, thief = visit(), visit()
    ref = upload(client, owner.token, TINY_PNG, "mine.png").json()["file"]
    refused = thief.say("look", "steal-file-1", files=[ref])
    assert refused["type"] == "error" and refused["field"] == "files"
    assert thief.say("", "bad-files-1", files="nope")["type"] == "error"


def test_an_agents_file_reaches_the_visitor_and_no_one_else(client: TestClient, db: Database, visit: Any) -> None:
    visitor, stranger = visit(), visit()
    ack = visitor.say("send me the invoice please", "want-invoice-1")
    conversation_id, _ = conversation_of(db, ack["message_id"])
    agent: AgentLogin = login(client, db, "admin")
    up = client.post("/api/v1/attachments", headers=agent.headers,
                     files={"file": ("invoice.pdf", PDF, "application/pdf")})
    assert up.status_code == 201, up.text
    reply = client.post(f"/api/v1/conversations/{conversation_id}/messages", headers=agent.headers,
                        json={"text": "Here it is.", "attachments": [up.json()["id"]]})
    assert reply.status_code == 201, reply.text
    answer = visitor.event_where(lambda f: f["data"].get("direction") == "out")
    [file] = answer["data"]["attachments"]
    assert file["filename"] == "invoice.pdf" and file["content_type"] == "application/pdf"
    assert fetch(client, file["url"], visitor.token).content == PDF
    assert fetch(client, file["url"], stranger.token).status_code == 404


@pytest.mark.parametrize(("name", "content", "ctype"), [("page.html", HTML, "text/html"),
                                                         ("logo.svg", SVG, "image/svg+xml")])
def test_an_agents_page_or_svg_reaches_the_visitor_only_as_bytes_to_save(
        client: TestClient, db: Database, visit: Any, name: str, content: bytes, ctype: str) -> None:
    """An agent's (or an email's) HTML or SVG file is served to the widget as a download of bytes,
    never typed as a page: the widget's blob: URL for it has the shop's origin."""
    visitor = visit()
    ack = visitor.say("what does it look like?", f"want-{name.replace('.', '-')}")
    conversation_id, _ = conversation_of(db, ack["message_id"])
    agent: AgentLogin = login(client, db, "admin")
    up = client.post("/api/v1/attachments", headers=agent.headers, files={"file": (name, content, ctype)})
    assert up.status_code == 201, up.text
    reply = client.post(f"/api/v1/conversations/{conversation_id}/messages", headers=agent.headers,
                        json={"text": "Here.", "attachments": [up.json()["id"]]})
    assert reply.status_code == 201, reply.text
    [file] = visitor.event_where(lambda f: f["data"].get("direction") == "out")["data"]["attachments"]
    got = fetch(client, file["url"], visitor.token)
    assert got.status_code == 200 and got.content == content
    assert got.headers["content-type"] == "application/octet-stream"
    assert got.headers["content-disposition"] == "attachment" and got.headers["x-content-type-options"] == "nosniff"


def test_a_download_link_works_for_a_day_and_only_for_its_visitor() -> None:
    clock = Clock()
    refs = FileRefs(b"test-hub-key", clock=clock)
    url = refs.link("shop", "v1", {"id": 7, "content_type": "application/pdf"})["url"]  # type: ignore[index]
    query = dict(part.split("=", 1) for part in url.partition("?")[2].split("&"))
    exp, sig = query["exp"], query["sig"]
    assert refs.check("shop", "v1", 7, "application/pdf", exp, sig) is Link.GOOD
    clock.now += LINK_LIFETIME.total_seconds() - 1
    assert refs.check("shop", "v1", 7, "application/pdf", exp, sig) is Link.GOOD  # the tab left open overnight
    clock.now += 1
    assert refs.check("shop", "v1", 7, "application/pdf", exp, sig) is Link.EXPIRED
    assert refs.check("shop", "v2", 7, "application/pdf", exp, sig) is Link.REFUSED  # another visitor's
    assert refs.check("shop", "v1", 8, "application/pdf", exp, sig) is Link.REFUSED
    later = str(int(exp) + 3600)
    assert refs.check("shop", "v1", 7, "application/pdf", later, sig) is Link.REFUSED  # its time stretched
    assert refs.check("shop", "v1", 7, "application/pdf", "", sig) is Link.REFUSED

    # A link handed out before links expired: signed without a time. Theirs, and expired.
    legacy = refs._mac("get", "shop", "v1", 7, "application/pdf")
    assert refs.check("shop", "v1", 7, "application/pdf", "", legacy) is Link.EXPIRED
    assert refs.check("shop", "v2", 7, "application/pdf", "", legacy) is Link.REFUSED


def test_an_expired_link_is_refused_with_a_reason_and_a_reload_brings_a_fresh_one(
        client: TestClient, db: Database, visit: Any) -> None:
    clock = Clock()
    refs: FileRefs = client.app.state.hub.adapters["webchat"].files  # type: ignore[attr-defined]
    refs.clock = clock
    visitor = visit()
    ack = visitor.say("send me the invoice please", "want-invoice-later-1")
    conversation_id, _ = conversation_of(db, ack["message_id"])
    agent: AgentLogin = login(client, db, "admin")
    up = client.post("/api/v1/attachments", headers=agent.headers,
                     files={"file": ("invoice.pdf", PDF, "application/pdf")})
    reply = client.post(f"/api/v1/conversations/{conversation_id}/messages", headers=agent.headers,
                        json={"text": "Here it is.", "attachments": [up.json()["id"]]})
    assert reply.status_code == 201, reply.text
    [file] = visitor.event_where(lambda f: f["data"].get("direction") == "out")["data"]["attachments"]
    assert fetch(client, file["url"], visitor.token).content == PDF

    clock.now += LINK_LIFETIME.total_seconds() + 60  # the visitor clicks it the day after
    expired = fetch(client, file["url"], visitor.token)
    assert expired.status_code == 410 and expired.json()["error"] == "expired"
    assert expired.headers["access-control-allow-origin"] == SHOP  # the widget can read why
    assert fetch(client, file["url"], visit().token).status_code == 404  # nothing said to another visitor
    # A link the hub handed out before links expired (no `exp`): refused the same way.
    visitor_id = visitor.token.partition(".")[0]
    legacy = (f"/widget/files/{file['id']}?widget=shop&type=application%2Fpdf"
              f"&sig={refs._mac('get', 'shop', visitor_id, file['id'], 'application/pdf')}")
    assert fetch(client, legacy, visitor.token).status_code == 410

    with client.websocket_connect("/ws/widget?widget=shop", headers={"origin": SHOP}) as ws:  # the page reloaded
        again = Visitor(ws, {"token": visitor.token, "last_event_id": 0})
        [fresh] = again.event_where(lambda f: f["data"].get("direction") == "out")["data"]["attachments"]
        assert fresh["url"] != file["url"]
        assert fetch(client, fresh["url"], visitor.token).content == PDF
