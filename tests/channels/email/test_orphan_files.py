"""Files no message carries are removed (hub.attachments.orphans, `hub attachments prune`): an
agent's upload never sent (after a day); the conversation's files, and bytes another row still
names, stay. A relay's second copy of a mail leaves no row to remove: its parts' rows are written
by ingest, which finds the mail known. "Later" is the cleanup's `now`, not a wait."""

from __future__ import annotations

import hashlib
import smtplib
from datetime import timedelta
from email.message import EmailMessage

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlmodel import col

from config.settings import Settings
from hub.attachments.models import StoredAttachment
from hub.attachments.orphans import remove_orphans
from hub.blobs import DiskBlobStore
from hub.clock import utcnow
from hub.db import Database
from tests.channels.email.smtp_side import Recorder
from tests.conftest import make_settings, wait_for
from tests.factories import TINY_PNG, login
from tests.services import free_port

pytestmark = pytest.mark.usefixtures("cheap_password_hashing")
PDF = b"%PDF-1.7\n%the contract\n%%EOF\n"


@pytest.fixture
def settings(database_url: str, outgoing: tuple[int, Recorder]) -> Settings:
    return make_settings(database_url, email={
        "listener_enabled": True, "listener_port": free_port(),
        "mailboxes": [{"address": "support@example.com",
                       "smtp": {"host": "127.0.0.1", "port": outgoing[0], "starttls": False}}]})


def _unlinked(db: Database) -> int:
    with db.read() as s:
        return int(s.execute(select(func.count()).select_from(StoredAttachment)
                             .where(col(StoredAttachment.message_id).is_(None))).scalar_one())


def test_a_redelivered_mails_parts_and_an_unsent_upload_are_removed_the_conversations_files_stay(
        client: TestClient, db: Database, settings: Settings) -> None:
    admin = login(client, db, "admin")
    mail = EmailMessage()
    mail["From"], mail["To"], mail["Subject"] = "ada@example.net", "support@example.com", "The contract"
    mail["Message-ID"] = "<contract@example.net>"
    mail.set_content("Signed, attached.")
    mail.add_attachment(PDF, maintype="application", subtype="pdf", filename="contract.pdf")
    for _ in range(2):  # the relay sends it again: its bytes are kept again, but ingest knows the mail
        with smtplib.SMTP("127.0.0.1", settings.email.listener_port, timeout=10) as smtp:
            smtp.send_message(mail, to_addrs=["support@example.com"])
    conv = wait_for(lambda: client.get("/api/v1/conversations?view=all", headers=admin.headers).json()["items"],
                    what="the conversation")[0]
    [message] = [m for m in client.get(f"/api/v1/conversations/{conv['id']}", headers=admin.headers)
                 .json()["messages"] if m["direction"] == "in"]
    unsent = client.post("/api/v1/attachments", files={"file": ("draft.png", TINY_PNG, "image/png")},
                         headers=admin.headers).json()
    assert _unlinked(db) == 1  # the upload (the second copy's PDF and original got no rows)
    store = client.app.state.hub.options.files.store  # type: ignore[attr-defined]
    assert isinstance(store, DiskBlobStore)
    with db.read() as s:
        upload_key = s.get(StoredAttachment, unsent["id"]).blob_key  # type: ignore[union-attr]

    assert remove_orphans(db, store, now=utcnow() - timedelta(minutes=5)).rows == 0  # nothing is old yet
    later = remove_orphans(db, store, now=utcnow() + timedelta(hours=2))
    assert later.rows == 0 and _unlinked(db) == 1  # the upload waits a day: a reply may be drafted long
    for a in message["attachments"]:  # the conversation's files (the same bytes) still download
        assert client.get(a["url"], headers=admin.headers).status_code == 200
    pdf = next(a for a in message["attachments"] if a["filename"] == "contract.pdf")
    assert client.get(pdf["url"], headers=admin.headers).content == PDF

    next_day = remove_orphans(db, store, now=utcnow() + timedelta(days=1, hours=1))
    assert (next_day.rows, next_day.blobs, _unlinked(db)) == (1, 1, 0)
    assert not store.path(upload_key).exists()
    assert client.get(unsent["url"], headers=admin.headers).status_code == 404
    assert remove_orphans(db, store, now=utcnow() + timedelta(days=2)).rows == 0


def test_a_mail_whose_files_were_kept_but_never_committed_leaves_bytes_the_cleanup_removes(
        client: TestClient, db: Database, settings: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    hub = client.app.state.hub  # type: ignore[attr-defined]
    store = hub.options.files.store
    assert isinstance(store, DiskBlobStore)

    async def crashed(message: object) -> object:  # the files are on disk; the commit never happens
        raise RuntimeError("power cut")

    monkeypatch.setattr(hub, "ingest_async", crashed)
    mail = EmailMessage()
    mail["From"], mail["To"], mail["Subject"] = "ada@example.net", "support@example.com", "The contract"
    mail["Message-ID"] = "<lost@example.net>"
    mail.set_content("Signed, attached.")
    mail.add_attachment(PDF + b"%lost\n", maintype="application", subtype="pdf", filename="contract.pdf")
    with smtplib.SMTP("127.0.0.1", settings.email.listener_port, timeout=10) as smtp, \
            pytest.raises(smtplib.SMTPDataError) as refused:
        smtp.send_message(mail, to_addrs=["support@example.com"])
    assert refused.value.smtp_code == 451  # the relay keeps the mail and tries again later
    pdf = store.path(hashlib.sha256(PDF + b"%lost\n").hexdigest())
    assert pdf.exists() and _unlinked(db) == 0  # bytes no row names

    assert remove_orphans(db, store, now=utcnow() - timedelta(minutes=5)).blobs == 0  # too young yet
    removed = remove_orphans(db, store, now=utcnow() + timedelta(hours=2))
    assert removed.rows == 0 and removed.blobs == 2  # the PDF and the original message
    assert not pdf.exists()
