"""Files into and out of the blob store, with the checks every way in shares: the size limit, the
type read from the content, a filename that is only a name. Blocking (disk or network I/O): the
hub calls it on a thread."""

from __future__ import annotations

import functools
import mimetypes
import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import BinaryIO

from hub.attachments.sniff import HEAD_BYTES, WHOLE_MESSAGE, sniff
from hub.blobs import BlobStore, BlobTooLarge, describe_size
from hub.ports import AttachmentRefused, AttachmentTooLarge, FileToKeep, RejectedMessage

DEFAULT_MAX_BYTES = 25 * 1024 * 1024
MAX_FILENAME = 200
_UNSAFE = re.compile(r'[\x00-\x1f\x7f"\\/]')


@dataclass(frozen=True)
class Kept:
    blob_key: str
    content_type: str
    filename: str
    size: int


@functools.lru_cache(maxsize=1024)  # the same few names come again and again ("original.eml")
def safe_filename(name: str | None, content_type: str) -> str:
    """Only the last part of a path, without control characters or quotes (it goes into a
    Content-Disposition header), at most MAX_FILENAME characters; "attachment.<ext>" when empty."""
    base = unicodedata.normalize("NFC", (name or "").replace("\\", "/").rsplit("/", 1)[-1])
    base = _UNSAFE.sub("", base).strip().strip(".")
    if len(base) > MAX_FILENAME:
        stem, dot, ext = base.rpartition(".")
        base = (stem[:MAX_FILENAME - len(ext) - 1] + dot + ext) if dot and len(ext) <= 10 else base[:MAX_FILENAME]
    return base or "attachment" + (mimetypes.guess_extension(content_type) or "")


class AttachmentFiles:
    def __init__(self, store: BlobStore, max_bytes: int = DEFAULT_MAX_BYTES) -> None:
        self.store = store
        self.max_bytes = max_bytes

    def too_large(self) -> AttachmentTooLarge:
        return AttachmentTooLarge(f"the file is over the limit of {describe_size(self.max_bytes)}", self.max_bytes)

    def keep(self, content: bytes | BinaryIO, declared: str | None, filename: str | None,
             accept: frozenset[str] | None = None, *, whole_message: bool = False) -> Kept:
        """Store the file; raises AttachmentTooLarge over `max_bytes`, and AttachmentRefused when
        `accept` is given and its type (read from the bytes) is not in it: nothing kept either way.
        `whole_message`: a message as a channel received it, `message/rfc822` without reading its
        bytes (sniffing each email's original cost 7 % of the listener's CPU: bench/RESULTS.md)."""
        if isinstance(content, bytes | bytearray):
            [kept] = self.keep_many([FileToKeep(bytes(content), declared, filename, None, accept, whole_message)])
            if isinstance(kept, RejectedMessage):
                raise kept
            return kept
        head = content.read(HEAD_BYTES)
        content.seek(0)
        content_type = self._type_of(head, declared, filename, accept, whole_message)
        try:
            key = self.store.put(content, content_type=content_type, filename=filename, max_bytes=self.max_bytes)
        except BlobTooLarge:
            raise self.too_large() from None
        return Kept(key, content_type, safe_filename(filename, content_type), self.store.size(key))

    def keep_many(self, files: Sequence[FileToKeep], *, settle: bool = True) -> list[Kept | RejectedMessage]:
        """`keep` for each of a message's files, their bytes stored in one `BlobStore.put_many`:
        for each, in order, what it was kept as, or why it was not (nothing kept of that one).
        `settle=False`: durable once `settle` returned (`BlobStore.put_many`)."""
        checked: list[Kept | RejectedMessage] = []
        contents: list[bytes] = []
        for f in files:
            try:
                if len(f.content) > self.max_bytes:
                    raise self.too_large()
                ctype = self._type_of(f.content[:HEAD_BYTES], f.content_type, f.filename, f.accept, f.whole_message)
            except RejectedMessage as exc:
                checked.append(exc)
                continue
            checked.append(Kept("", ctype, safe_filename(f.filename, ctype), len(f.content)))
            contents.append(f.content)
        keys = iter(self.store.put_many(contents, settle=settle) if contents else ())
        return [replace(k, blob_key=next(keys)) if isinstance(k, Kept) else k for k in checked]

    def settle(self, blob_keys: Sequence[str]) -> None:
        self.store.settle(blob_keys)

    def settled(self, blob_keys: Sequence[str]) -> bool:
        return self.store.settled(blob_keys)

    @staticmethod
    def _type_of(head: bytes, declared: str | None, filename: str | None, accept: frozenset[str] | None,
                 whole_message: bool) -> str:
        content_type = WHOLE_MESSAGE if whole_message else sniff(head, declared, filename)
        if accept is not None and content_type not in accept:
            raise AttachmentRefused(f"files of type {content_type} are not taken here", content_type)
        return content_type

    def read(self, blob_key: str) -> bytes:
        with self.store.open(blob_key) as f:
            return f.read()
