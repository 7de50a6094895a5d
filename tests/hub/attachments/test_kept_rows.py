"""The rows ingest writes for files a channel kept (hub.attachments.actions, in plain SQL): one per
file, in the messages' order, as `do_add` writes an uploaded file's; tied to the message that
carries them, never to a second one naming the same file, and dropped again for a redelivery.
On both databases."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from channels.email.bodies import MAX_PARTS
from hub.attachments.actions import do_add, do_add_kept
from hub.attachments.models import StoredAttachment
from hub.conversations.models import Message
from hub.db import Database
from hub.ingest.entry import do_ingest_many
from hub.ports import Attachment, ContactRef, InboundMessage, IngestResult
from tests.factories import create_agent


def _mail(n: int, *files: Attachment) -> InboundMessage:
    return InboundMessage(channel="email", source="support@example.com", ingest_scope="email:support",
                          external_id=f"<{n}@example.net>", contact=ContactRef(email=f"c{n}@example.net"),
                          text="see attached", attachments=files)


def _kept(key: str, name: str | None, *, ctype: str | None = "application/pdf", cid: str | None = None) -> Attachment:
    return Attachment(None, ctype, name, 10, cid, kept=key)


def _rows(db: Database) -> dict[int, dict[str, Any]]:
    with db.read() as s:
        return {r.id: r.model_dump() for r in s.execute(select(StoredAttachment)).scalars() if r.id is not None}


def test_kept_files_get_rows_in_the_messages_order_as_an_uploaded_files_row_is_written(database: Database) -> None:
    with database.write() as s:
        first = do_add(s, blob_key="k0", content_type="text/plain", filename="note.txt", size=3)
    msgs = [
        _mail(1, _kept("k1", "a.pdf"), Attachment("https://files.example/x.pdf")),
        _mail(2),
        _mail(3, _kept("k2", None, ctype=None), first, _kept("k1", "a.pdf", cid="part1")),
    ]
    with database.write() as s:
        out, fresh = do_add_kept(s, msgs)
    ids = [a.id or 0 for a in (out[0].attachments[0], out[2].attachments[0], out[2].attachments[2])]
    assert ids == sorted(fresh) and len(fresh) == 3 and min(fresh) > (first.id or 0)
    assert not any(a.kept for m in out for a in m.attachments)
    assert out[1] is msgs[1]
    assert [a.url for a in out[0].attachments] == [f"/api/v1/attachments/{ids[0]}", "https://files.example/x.pdf"]
    assert out[2].attachments[1] == first
    assert (out[2].attachments[0].content_type, out[2].attachments[0].filename) == ("application/octet-stream",
                                                                                   "attachment")
    rows = _rows(database)
    assert [(rows[i]["blob_key"], rows[i]["filename"], rows[i]["cid"]) for i in ids] == [
        ("k1", "a.pdf", None), ("k2", "attachment", None), ("k1", "a.pdf", "part1")]
    # Column for column what `do_add` writes for the same file (but the id and the time).
    with database.write() as s:
        same = do_add(s, blob_key="k1", content_type="application/pdf", filename="a.pdf", size=10, cid="part1")
    written, uploaded = _rows(database)[ids[2]], _rows(database)[same.id or 0]
    assert written["created_at"] is not None and written["created_at"].tzinfo is not None
    for row in (written, uploaded):
        del row["id"], row["created_at"]
    assert written == uploaded


def test_files_are_tied_to_the_first_message_naming_them_and_a_redeliverys_new_rows_are_dropped(
        database: Database) -> None:
    agent_id, _ = create_agent(database)
    with database.write() as s:
        upload = do_add(s, blob_key="u", content_type="image/png", filename="by-channel.png", size=1)
        agents = do_add(s, blob_key="v", content_type="image/png", filename="by-agent.png", size=1,
                        uploaded_by=agent_id)
    again = _mail(1, _kept("k4", "a.pdf"))  # the relay sent mail 1 again, its bytes kept again
    msgs = [_mail(1, _kept("k1", "a.pdf"), upload), _mail(2, upload, _kept("k2", "b.pdf"), agents), again]
    with database.write() as s:
        results = do_ingest_many(s, msgs)
    one, two, dup = results
    assert isinstance(one, IngestResult) and isinstance(two, IngestResult) and isinstance(dup, IngestResult)
    assert not dup.created and dup.message_id == one.message_id
    rows = {r["blob_key"]: r for r in _rows(database).values()}
    assert {key: row["message_id"] for key, row in rows.items()} == {
        "u": one.message_id, "k1": one.message_id, "k2": two.message_id, "v": None}
    with database.read() as s:
        stored = {m.id: m.attachments for m in s.execute(select(Message)).scalars()}
    assert [a["filename"] for a in stored[one.message_id]] == ["a.pdf", "by-channel.png"]
    assert [a["id"] for a in stored[one.message_id]] == [rows["k1"]["id"], upload.id]


def test_a_batch_of_mails_with_as_many_files_as_the_listener_takes_is_written_whole(database: Database) -> None:
    """The group commit ingests up to 100 mails together, each with up to 500 parts and its
    original: more values than one statement may carry (PostgreSQL 65535, SQLite 32766 or its
    build's limit). The batch must still go through in one transaction, each file tied to its mail."""
    per_mail = MAX_PARTS + 1
    msgs = [_mail(n, *(_kept(f"k{n}-{i}", f"part{i}.txt") for i in range(per_mail))) for n in range(60)]
    with database.write() as s:
        results = do_ingest_many(s, msgs)
    assert all(isinstance(r, IngestResult) and r.created for r in results)
    rows = _rows(database)
    assert len(rows) == 60 * per_mail
    by_key = {row["blob_key"]: row for row in rows.values()}
    for n, result in enumerate(results):
        assert isinstance(result, IngestResult)
        assert {by_key[f"k{n}-{i}"]["message_id"] for i in range(per_mail)} == {result.message_id}
    ids = [by_key[f"k{n}-{i}"]["id"] for n in range(60) for i in range(per_mail)]
    assert ids == sorted(ids), "in the mails' order"
