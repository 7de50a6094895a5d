"""Files no message carries: removing their rows and, once no row names them, their bytes.

A channel that stores files before ingest (`HubPort.store_attachment_async`) leaves rows no
message names when ingest then refuses the message, or finds it stored already; an agent's upload
that was never sent does the same. Email keeps only the bytes before ingest
(`keep_files_async`), and ingest writes the rows: a refused mail, or a crash between keeping a
mail's files and committing it, leaves bytes no row names at all.
`remove_orphans` (the `hub attachments prune` command; run it hourly) deletes such rows older
than `older_than` (an hour by default: time enough for a stored mail to reach its message),
agents' uploads only after `UPLOAD_GRACE` (a reply may be drafted for long), then each blob no
remaining row names and not written since the cutoff: those of the rows it removed, then every
such blob in the store (`BlobStore.keys`: a walk of the whole store, a batch of keys per query),
then the temporary files writes cut short by a crash left in the store, untouched since the same
cutoff (`BlobStore.remove_leftovers`; a write in flight keeps its file young).

The rows go in the write transaction (on PostgreSQL under the write lock, as every ingest and
reply): a message linking a file at that moment either comes first (the row is no longer an
orphan) or finds it gone. The blob store keys by content, so a mail stored again right now may be
handed the key of a blob found orphaned: `DiskBlobStore.put` refreshes an existing blob's time,
and blobs written since the cutoff are kept (`BlobStore.delete(..., written_before=)`).
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import and_, delete, or_, select
from sqlmodel import Session, col

from hub.attachments.models import StoredAttachment
from hub.blobs import BlobStore
from hub.clock import utcnow
from hub.db import Database

DEFAULT_AGE = timedelta(hours=1)
UPLOAD_GRACE = timedelta(days=1)
BATCH = 500


@dataclass(frozen=True)
class Removed:
    rows: int
    blobs: int
    temp_files: int


def do_remove_orphan_rows(session: Session, *, before: datetime, uploads_before: datetime,
                          limit: int = BATCH) -> list[str]:
    """Deletes up to `limit` rows no message names (channels' files stored before `before`,
    agents' uploads before `uploads_before`); returns their blob keys."""
    orphaned = and_(col(StoredAttachment.message_id).is_(None), or_(
        col(StoredAttachment.uploaded_by).is_(None) & (col(StoredAttachment.created_at) < before),
        col(StoredAttachment.uploaded_by).is_not(None) & (col(StoredAttachment.created_at) < uploads_before)))
    rows = session.execute(select(col(StoredAttachment.id), col(StoredAttachment.blob_key)).where(orphaned)
                           .order_by(col(StoredAttachment.id)).limit(limit)).all()
    if rows:
        session.execute(delete(StoredAttachment).where(col(StoredAttachment.id).in_([r.id for r in rows]))
                        .execution_options(synchronize_session=False))
    return [r.blob_key for r in rows]


def unnamed(session: Session, keys: Sequence[str]) -> set[str]:
    """The keys among `keys` that no stored attachment names."""
    named = set(session.execute(select(col(StoredAttachment.blob_key))
                                .where(col(StoredAttachment.blob_key).in_(set(keys)))).scalars())
    return set(keys) - named


def remove_orphans(db: Database, store: BlobStore, *, older_than: timedelta = DEFAULT_AGE,
                   now: datetime | None = None) -> Removed:
    """Blocking: runs its own transactions, a batch of rows at a time."""
    now = now or utcnow()
    before, uploads_before = now - older_than, now - max(older_than, UPLOAD_GRACE)
    rows = blobs = 0
    while True:
        with db.write() as s:
            keys = do_remove_orphan_rows(s, before=before, uploads_before=uploads_before)
        if not keys:
            break
        rows += len(keys)
        blobs += _delete_unnamed(db, store, keys, before)
    old = store.keys(written_before=before)
    while batch := list(itertools.islice(old, BATCH)):
        blobs += _delete_unnamed(db, store, batch, before)
    return Removed(rows, blobs, store.remove_leftovers(written_before=before))


def _delete_unnamed(db: Database, store: BlobStore, keys: Sequence[str], before: datetime) -> int:
    with db.read() as s:
        gone = unnamed(s, keys)
    return sum(store.delete(key, written_before=before) for key in sorted(gone))
