"""Attachments as agents use them: upload, send with a reply, download; what channels store and
who may read it; the email frame's inline pictures. Both databases."""

from __future__ import annotations

import base64
from typing import Any

import pytest
from fastapi.testclient import TestClient

from config.settings import Settings
from hub import blob_folders
from hub.attachments.models import StoredAttachment
from hub.db import Database
from hub.outbox.models import OutboxItem
from hub.ports import Attachment, AttachmentRefused, AttachmentTooLarge, ContactRef, FileToKeep, InboundMessage
from hub.runtime import Hub
from tests.conftest import make_settings
from tests.factories import TINY_PNG as PNG
from tests.factories import api_key, create_team, inbound, login

pytestmark = pytest.mark.usefixtures("cheap_password_hashing")

HTML_PAGE = b"<!DOCTYPE html><html><body><script>alert(document.cookie)</script></body></html>"


@pytest.fixture
def settings(database_url: str) -> Settings:
    return make_settings(database_url, attachment_max_bytes=64 * 1024, visibility="team")


def _hub(client: TestClient) -> Hub:
    return client.app.state.hub  # type: ignore[attr-defined, no-any-return]


def _upload(client: TestClient, headers: dict[str, str], name: str, content: bytes, ctype: str) -> Any:
    return client.post("/api/v1/attachments", files={"file": (name, content, ctype)}, headers=headers)


def test_an_agent_uploads_a_file_sends_it_with_a_reply_and_it_downloads_as_sent(client: TestClient,
                                                                                  db: Database) -> None:
    agent = login(client, db, "agent")
    conv = inbound(client, api_key(db), email="ada@example.com")["conversation_id"]
    up = _upload(client, agent.headers, "../../photo.bin", PNG, "application/octet-stream")
    assert up.status_code == 201, up.text
    stored = up.json()
    assert stored["content_type"] == "image/png" and stored["kind"] == "image"  # read from the bytes
    assert stored["filename"] == "photo.bin" and stored["size"] == len(PNG)
    assert stored["url"] == f"/api/v1/attachments/{stored['id']}"

    reply = client.post(f"/api/v1/conversations/{conv}/messages",
                        json={"text": "Here it is", "attachments": [stored["id"]]}, headers=agent.headers)
    assert reply.status_code == 201, reply.text
    assert [a["url"] for a in reply.json()["attachments"]] == [stored["url"]]
    thread = client.get(f"/api/v1/conversations/{conv}", headers=agent.headers).json()
    assert thread["messages"][-1]["attachments"][0]["filename"] == "photo.bin"

    down = client.get(stored["url"], headers=agent.headers)
    assert down.status_code == 200 and down.content == PNG
    assert down.headers["content-type"] == "image/png"
    assert down.headers["content-disposition"].startswith("inline;")
    assert down.headers["x-content-type-options"] == "nosniff"
    assert down.headers["content-security-policy"] == "default-src 'none'; sandbox"

    # The outbox hands the adapter the file, whose bytes it reads through the port.
    with db.read() as s:
        item = s.query(OutboxItem).one()
        carried = [Attachment.from_dict(a) for a in item.payload["attachments"]]
    assert client.portal.call(_hub(client).open_attachment_async, carried[0]) == PNG  # type: ignore[union-attr]

    again = client.post(f"/api/v1/conversations/{conv}/messages",
                        json={"text": "once more", "attachments": [stored["url"]]}, headers=agent.headers)
    assert again.status_code == 422
    assert again.json()["message"] == f"attachment {stored['id']} was sent with another message already: " \
                                      "upload it again"


def test_a_page_declared_as_a_picture_downloads_as_a_file_never_inline(client: TestClient, db: Database) -> None:
    agent = login(client, db, "agent")
    up = _upload(client, agent.headers, "cat.png", HTML_PAGE, "image/png").json()
    assert up["content_type"] == "text/html" and up["kind"] == "file"
    down = client.get(up["url"], headers=agent.headers)
    assert down.headers["content-disposition"] == "attachment; filename=\"cat.png\"; filename*=UTF-8''cat.png"
    assert down.headers["content-security-policy"] == "default-src 'none'; sandbox"
    assert down.headers["x-content-type-options"] == "nosniff"


def test_a_file_over_the_limit_is_refused_with_the_limit_in_the_words(client: TestClient, db: Database) -> None:
    agent = login(client, db, "agent")
    just_over = _upload(client, agent.headers, "big.pdf", b"%PDF-1.7\n" + b"0" * 64 * 1024, "application/pdf")
    assert just_over.status_code == 413
    # The console shows the limit in its own language: the reason and the limit in bytes say it.
    assert just_over.json() == {"error": "too_large", "reason": "file_too_large", "params": {"max_bytes": 64 * 1024},
                                "message": "the file is over the limit of 64 KB"}
    far_over = _upload(client, agent.headers, "huge.pdf", b"0" * 512 * 1024, "application/pdf")
    assert far_over.status_code == 413
    assert far_over.json()["message"] == "the file is over the limit of 64 KB"
    assert far_over.json()["reason"] == "file_too_large" and far_over.json()["params"] == {"max_bytes": 64 * 1024}
    with db.read() as s:
        assert s.query(StoredAttachment).count() == 0
    with pytest.raises(AttachmentTooLarge, match="over the limit of 64 KB"):
        client.portal.call(_hub(client).store_attachment_async, b"0" * 65 * 1024, None, "x")  # type: ignore[union-attr]


def _customer_mail(client: TestClient, html: str | None = None) -> tuple[int, int, Attachment]:
    """A customer's message with a picture, stored as a channel stores it (through the port)."""
    hub = _hub(client)
    portal = client.portal  # type: ignore[union-attr]
    part = portal.call(lambda: hub.store_attachment_async(PNG, "image/jpeg", "logo.png", cid="<logo@mail>"))
    result = portal.call(hub.ingest_async, InboundMessage(
        channel="api", source="crm", ingest_scope="api:crm", external_id="mail-1",
        contact=ContactRef(email="grace@example.com"), text="see the logo", html=html, attachments=(part,)))
    return result.conversation_id, result.message_id, part


def test_only_agents_who_may_read_the_conversation_download_what_a_customer_sent(client: TestClient,
                                                                                 db: Database) -> None:
    team_a, team_b = create_team(db), create_team(db)
    mine, other = login(client, db, "agent", teams=[team_a]), login(client, db, "agent", teams=[team_b])
    conv, _, part = _customer_mail(client)
    assert part.content_type == "image/png" and part.cid == "logo@mail"  # corrected; brackets gone
    with db.write() as s:
        from hub.conversations.actions import do_assign, get_conversation
        do_assign(s, get_conversation(s, conv), assignee_id=None, team_id=team_a, actor_agent_id=None, reason="test")
    assert client.get(part.url or "", headers=mine.headers).content == PNG
    refused = client.get(part.url or "", headers=other.headers)
    assert refused.status_code == 404
    assert refused.json()["message"] == f"attachment {part.id} does not exist"
    assert client.get("/api/v1/attachments/999999", headers=mine.headers).status_code == 404
    # An upload not sent yet is its uploader's alone, and no one else's reply may carry it.
    upload = _upload(client, other.headers, "draft.png", PNG, "image/png").json()
    assert client.get(upload["url"], headers=mine.headers).status_code == 404
    sneaky = client.post(f"/api/v1/conversations/{conv}/messages", json={"text": "x", "attachments": [upload["id"]]},
                         headers=mine.headers)
    assert sneaky.status_code == 422
    assert sneaky.json()["message"] == f"attachment {upload['id']} is not a file you uploaded"


def test_the_email_frame_shows_inline_pictures_from_the_message_s_own_parts(client: TestClient,
                                                                            db: Database) -> None:
    agent = login(client, db, "supervisor")
    conv, message, _ = _customer_mail(client, html='<p>Hi</p><img alt="logo" src="cid:logo@mail">'
                                                   '<img alt="other" src="cid:someone-elses@mail">')
    frame = client.get(f"/api/v1/conversations/{conv}/messages/{message}/html", headers=agent.headers)
    assert frame.status_code == 200
    assert f'<img alt="logo" src="data:image/png;base64,{base64.b64encode(PNG).decode()}">' in frame.text
    assert '<img alt="other" src="cid:someone-elses@mail">' in frame.text
    assert "img-src 'self' data:;" in frame.headers["content-security-policy"]


def test_a_file_kept_for_a_message_gets_its_row_with_the_message_and_a_redelivery_writes_none(
        client: TestClient, db: Database) -> None:
    hub, portal = _hub(client), client.portal  # type: ignore[union-attr]
    agent = login(client, db, "supervisor")

    def deliver() -> tuple[Attachment, Any]:
        kept = portal.call(lambda: hub.keep_file_async(PNG, "image/jpeg", "logo.png", cid="<logo@mail>"))
        return kept, portal.call(hub.ingest_async, InboundMessage(
            channel="api", source="crm", ingest_scope="api:crm", external_id="mail-kept",
            contact=ContactRef(email="kept@example.com"), text="see the logo", attachments=(kept,)))

    kept, first = deliver()
    assert kept.id is None and kept.url is None and kept.content_type == "image/png"  # no row until the message
    _, again = deliver()
    assert not again.created and again.message_id == first.message_id
    [stored] = [m for m in client.get(f"/api/v1/conversations/{first.conversation_id}", headers=agent.headers)
                .json()["messages"] if m["direction"] == "in"]
    [file] = stored["attachments"]
    assert (file["filename"], file["cid"], file["kind"]) == ("logo.png", "logo@mail", "image") and "kept" not in file
    assert client.get(file["url"], headers=agent.headers).content == PNG
    with db.read() as s:
        rows = s.query(StoredAttachment).all()
    assert [(r.id, r.message_id) for r in rows] == [(file["id"], first.message_id)]  # the redelivery's is gone


def test_a_messages_files_kept_in_one_call_download_as_sent_and_a_refused_one_says_why(
        client: TestClient, db: Database) -> None:
    hub, portal = _hub(client), client.portal  # type: ignore[union-attr]
    agent = login(client, db, "supervisor")
    original = b"From: kept@example.com\r\nSubject: files\r\n\r\nsee the logo\r\n"
    kept = portal.call(hub.keep_files_async, [
        FileToKeep(PNG, "image/jpeg", "logo.png", "<logo@mail>"),
        FileToKeep(b"z" * (64 * 1024 + 1), "application/zip", "big.zip"),
        FileToKeep(HTML_PAGE, "text/html", "page.html", accept=frozenset({"image/png"})),
        FileToKeep(original, "text/plain", "original.eml", whole_message=True)])
    logo, big, page, eml = kept
    assert isinstance(big, AttachmentTooLarge) and isinstance(page, AttachmentRefused)
    assert isinstance(logo, Attachment) and isinstance(eml, Attachment)
    assert (logo.content_type, logo.cid, eml.content_type) == ("image/png", "logo@mail", "message/rfc822")
    result = portal.call(hub.ingest_async, InboundMessage(
        channel="api", source="crm", ingest_scope="api:crm", external_id="mail-kept-together",
        contact=ContactRef(email="kept@example.com"), text="see the logo", attachments=(logo, eml)))
    [stored] = [m for m in client.get(f"/api/v1/conversations/{result.conversation_id}", headers=agent.headers)
                .json()["messages"] if m["direction"] == "in"]
    assert [client.get(f["url"], headers=agent.headers).content for f in stored["attachments"]] == [PNG, original]


def test_files_kept_unsettled_are_settled_once_and_the_settle_answers_after_their_folders_fsync(
        client: TestClient, db: Database, monkeypatch: pytest.MonkeyPatch) -> None:
    hub, portal = _hub(client), client.portal  # type: ignore[union-attr]
    synced: list[str] = []
    real = blob_folders.fsync_dir
    monkeypatch.setattr(blob_folders, "fsync_dir", lambda path: (synced.append(path), real(path))[1])
    content = b"%PDF-1.7\n%kept, then settled\n"
    [pdf] = portal.call(lambda: hub.keep_files_async([FileToKeep(content, "application/pdf", "a.pdf")],
                                                     settle=False))
    assert isinstance(pdf, Attachment) and pdf.kept
    portal.call(hub.settle_files_async, [pdf])
    store = hub.options.files.store  # type: ignore[union-attr]
    leaf = str(store.path(pdf.kept).parent)
    assert store.settled([pdf.kept]), "durable once settle_files_async returned"
    assert synced.count(leaf) == 1, "the keeping thread's fsync, not a second one"


def test_an_upload_whose_body_cannot_be_read_is_refused_as_invalid_input(client: TestClient, db: Database) -> None:
    """Found by the schema fuzzer: a broken multipart body got Starlette's 400 with the code "error"."""
    agent = login(client, db, "agent")
    resp = client.post("/api/v1/attachments", headers={**agent.headers,
                       "Content-Type": "multipart/form-data; boundary=b"}, content=b"--b\r\n--b--\r\n")
    assert resp.status_code == 422, resp.text
    assert resp.json()["error"] == "invalid" and "cannot be read" in resp.json()["message"]
