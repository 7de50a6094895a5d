"""A relayed mail's files. The relay hears 250 only once they are durable (their folders' fsyncs
run beside the message's write); when they cannot be made so, 451, and the second try stores the
mail once with its files. Files no message carries are removed (hub.attachments.orphans, `hub
attachments prune`): an agent's upload never sent (after a day); the conversation's files, and
bytes another row still names, stay. A relay's second copy of a mail leaves no row to remove: its
parts' rows are written by ingest, which finds the mail known. "Later" is the cleanup's `now`, not
a wait."""

from __future__ import annotations

import hashlib
import smtplib
import threading
from collections.abc import Callable
from datetime import timedelta
from email.message import EmailMessage

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlmodel import col

from config.settings import Settings
from hub import blob_folders
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


def _contract(message_id: str, pdf: bytes) -> EmailMessage:
    mail = EmailMessage()
    mail["From"], mail["To"], mail["Subject"] = "ada@example.net", "support@example.com", "The contract"
    mail["Message-ID"] = message_id
    mail.set_content("Signed, attached.")
    mail.add_attachment(pdf, maintype="application", subtype="pdf", filename="contract.pdf")
    return mail


def _messages_in(client: TestClient, headers: dict[str, str]) -> list[dict[str, object]]:
    convs = client.get("/api/v1/conversations?view=all", headers=headers).json()["items"]
    return [m for c in convs for m in client.get(f"/api/v1/conversations/{c['id']}", headers=headers)
            .json()["messages"] if m["direction"] == "in"]


def _on_fsync_of_folder_of(client: TestClient, content: bytes, first: Callable[[], None],
                           monkeypatch: pytest.MonkeyPatch) -> Callable[[str], None]:
    """`first()` before each fsync of the folder `content`'s blob goes in; returns the real fsync."""
    store = client.app.state.hub.options.files.store  # type: ignore[attr-defined]
    leaf = str(store.path(hashlib.sha256(content).hexdigest()).parent)
    real = blob_folders.fsync_dir

    def disk(path: str) -> None:
        if path == leaf:
            first()
        real(path)

    monkeypatch.setattr(blob_folders, "fsync_dir", disk)
    return real


def test_the_relay_hears_250_only_once_the_mails_files_are_on_disk_for_good(
        client: TestClient, db: Database, settings: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    admin = login(client, db, "admin")
    pdf = PDF + b"%held\n"
    in_fsync, release = threading.Event(), threading.Event()

    def slow() -> None:
        in_fsync.set()
        assert release.wait(10)

    _on_fsync_of_folder_of(client, pdf, slow, monkeypatch)
    answers: list[object] = []

    def relay() -> None:
        with smtplib.SMTP("127.0.0.1", settings.email.listener_port, timeout=20) as smtp:
            answers.append(smtp.send_message(_contract("<held@example.net>", pdf), to_addrs=["support@example.com"]))

    sender = threading.Thread(target=relay)
    sender.start()
    try:
        assert in_fsync.wait(10)
        # The message is written while its PDF's folder is still being made durable...
        wait_for(lambda: _messages_in(client, admin.headers), what="the message, written beside the fsync")
        assert answers == [], "...but the relay has no answer yet"
    finally:
        release.set()
        sender.join(20)
    assert answers == [{}], "250 for the one recipient once the fsync is done"


def test_a_mail_whose_files_cannot_be_made_durable_is_answered_451_and_the_retry_stores_it_once(
        client: TestClient, db: Database, settings: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    admin = login(client, db, "admin")
    pdf = PDF + b"%disk trouble\n"

    def failing() -> None:
        raise OSError(5, "Input/output error")

    real = _on_fsync_of_folder_of(client, pdf, failing, monkeypatch)
    mail = _contract("<disk@example.net>", pdf)
    with smtplib.SMTP("127.0.0.1", settings.email.listener_port, timeout=10) as smtp, \
            pytest.raises(smtplib.SMTPDataError) as refused:
        smtp.send_message(mail, to_addrs=["support@example.com"])
    assert refused.value.smtp_code == 451  # the relay keeps the mail and tries again later

    monkeypatch.setattr(blob_folders, "fsync_dir", real)  # the disk is well again
    with smtplib.SMTP("127.0.0.1", settings.email.listener_port, timeout=10) as smtp:
        assert smtp.send_message(mail, to_addrs=["support@example.com"]) == {}
    [message] = _messages_in(client, admin.headers)  # stored once
    got = next(a for a in message["attachments"] if a["filename"] == "contract.pdf")  # type: ignore[attr-defined]
    assert client.get(got["url"], headers=admin.headers).content == pdf
