"""Where attachments' bytes live: a small store interface, and its implementation on local disk.

`BlobStore` is all the hub asks of a store: `put` bytes (or a stream) and get a key back, `open`
a key for reading, its `size`, `delete` it. Keys are opaque strings the store mints; the hub keeps
them in its `attachments` table next to what it knows of the file (type, name, size), so a store
holds bytes and nothing else. An S3-compatible store implements the same five methods (`put` with
a PutObject of key = the SHA-256, `open` returning the GetObject body, which is file-like,
`size` a HeadObject, `delete` a DeleteObject after a HeadObject's LastModified when asked for
`written_before`); no SDK is needed for the disk store.

`DiskBlobStore` keys by content (the SHA-256 of the bytes, in hex): the same logo in every email
signature, or an attachment stored again when its message is redelivered, takes room once. Hence
`delete` is for a key no stored attachment names any longer (the caller checks; the store cannot;
hub.attachments.orphans), and `put` of bytes already there refreshes their time, so a blob just
handed out again is not one `delete(written_before=...)` takes.
Writes are atomic (a temporary file in the store's folder, fsync'd, renamed into place, the
folder fsync'd): a reader never sees half a file, and a crash leaves at most a temporary file.
A key is checked against the hex pattern before it becomes a path, so none can leave the folder.
"""

from __future__ import annotations

import hashlib
import os
import re
import tempfile
from collections.abc import Iterable
from datetime import datetime
from pathlib import Path
from typing import BinaryIO, Protocol

CHUNK = 1 << 16
_KEY = re.compile(r"[0-9a-f]{64}")


class BlobTooLarge(ValueError):
    """The content is over the store's limit (`max_bytes`): nothing was kept."""

    def __init__(self, max_bytes: int) -> None:
        super().__init__(f"the file is over the limit of {describe_size(max_bytes)}")
        self.max_bytes = max_bytes


class BlobNotFound(KeyError):
    """No blob under this key (or the key is not one this store mints)."""


class BlobStore(Protocol):
    def put(self, content: bytes | BinaryIO, *, content_type: str | None = None, filename: str | None = None,
            max_bytes: int | None = None) -> str:
        """Keep `content` (bytes, or a binary stream read to its end) and return its key. Raises
        BlobTooLarge, keeping nothing, when it holds more than `max_bytes`. `content_type` and
        `filename` are hints a store may record (an object store's metadata); the disk store
        ignores them."""
        ...

    def open(self, key: str) -> BinaryIO:
        """The blob for reading (close it when done). Raises BlobNotFound."""
        ...

    def size(self, key: str) -> int:
        """The blob's size in bytes. Raises BlobNotFound."""
        ...

    def delete(self, key: str, *, written_before: datetime | None = None) -> bool:
        """Remove the blob; False when it is not there, or (with `written_before`) when it was
        written, or handed out again by `put`, at or after that time."""
        ...


def describe_size(n: int) -> str:
    """A size as people read it: "25 MB", "512 KB", "900 bytes" (powers of 1024, as file managers do)."""
    for unit, factor in (("GB", 1 << 30), ("MB", 1 << 20), ("KB", 1 << 10)):
        if n >= factor:
            value = n / factor
            return f"{value:.0f} {unit}" if value == int(value) or value >= 10 else f"{value:.1f} {unit}"
    return f"{n} bytes"


def _chunks(content: bytes | BinaryIO) -> Iterable[bytes]:
    if isinstance(content, bytes | bytearray | memoryview):
        yield bytes(content)
        return
    while chunk := content.read(CHUNK):
        yield chunk


class DiskBlobStore:
    """Blobs as files under `root` (setting `attachments_dir`), at `ab/cd/<sha256>`."""

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root)
        self._tmp = self.root / "tmp"  # in the same file system as the blobs: rename is atomic

    def path(self, key: str) -> Path:
        if not isinstance(key, str) or not _KEY.fullmatch(key):
            raise BlobNotFound(key)
        return self.root / key[:2] / key[2:4] / key

    def put(self, content: bytes | BinaryIO, *, content_type: str | None = None, filename: str | None = None,
            max_bytes: int | None = None) -> str:
        self._tmp.mkdir(parents=True, exist_ok=True)
        digest = hashlib.sha256()
        size = 0
        fd, tmp_name = tempfile.mkstemp(dir=self._tmp, prefix="put-")
        try:
            with os.fdopen(fd, "wb") as out:
                for chunk in _chunks(content):
                    size += len(chunk)
                    if max_bytes is not None and size > max_bytes:
                        raise BlobTooLarge(max_bytes)
                    digest.update(chunk)
                    out.write(chunk)
                out.flush()
                os.fsync(out.fileno())
            key = digest.hexdigest()
            target = self.path(key)
            target.parent.mkdir(parents=True, exist_ok=True)
            try:  # the same bytes are there already: they are young again (see `delete`)
                os.utime(target)
                os.unlink(tmp_name)
            except FileNotFoundError:
                os.replace(tmp_name, target)
                _fsync_dir(target.parent)
            return key
        except BaseException:
            if os.path.exists(tmp_name):
                os.unlink(tmp_name)
            raise

    def open(self, key: str) -> BinaryIO:
        try:
            return self.path(key).open("rb")
        except FileNotFoundError as exc:
            raise BlobNotFound(key) from exc

    def size(self, key: str) -> int:
        try:
            return self.path(key).stat().st_size
        except FileNotFoundError as exc:
            raise BlobNotFound(key) from exc

    def delete(self, key: str, *, written_before: datetime | None = None) -> bool:
        try:
            path = self.path(key)
            if written_before is not None and path.stat().st_mtime >= written_before.timestamp():
                return False
            path.unlink()
        except (BlobNotFound, FileNotFoundError):
            return False
        return True


def _fsync_dir(path: Path) -> None:
    """The rename itself is durable only once the folder's entry is on disk."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
