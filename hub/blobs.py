"""Where attachments' bytes live: a small store interface, and its implementation on local disk.

`BlobStore` is all the hub asks of a store: `put` bytes (or a stream, or several byte strings
with `put_many`) and get a key back, `open` a key for reading, its `size`, `delete` it, list the
`keys` of old blobs. Keys are opaque strings the store mints; the hub keeps them in its
`attachments` table next to what it knows of the file (type, name, size), so a store holds bytes
and nothing else. An S3-compatible store implements the same methods (`put` with a PutObject of
key = the SHA-256, `put_many` a `put` each, `open` returning the GetObject body, which is
file-like, `size` a HeadObject, `delete` a DeleteObject after a HeadObject's LastModified when
asked for `written_before`, `keys` a ListObjectsV2); no SDK is needed for the disk store.

`DiskBlobStore` keys by content (the SHA-256 of the bytes, in hex): the same logo in every email
signature, or an attachment stored again when its message is redelivered, takes room once. Hence
`delete` is for a key no stored attachment names any longer (the caller checks; the store cannot;
hub.attachments.orphans), and `put` of bytes already there refreshes their time, so a blob just
handed out again is not one `delete(written_before=...)` takes.
Writes are atomic (a temporary file in the store's folder, fsync'd, renamed into place, the
folder fsync'd): a reader never sees half a file, and a crash leaves at most a temporary file,
which `remove_leftovers` removes once it is old (hub.attachments.orphans asks it).
A key is checked against the hex pattern before it becomes a path, so none can leave the folder.
`put_many` keeps several byte strings in one call (an email's parts and its original): bytes whose
blob is there already are not written again, and each folder that gained an entry (a blob renamed
into it, a new shard folder in its parent) is fsync'd once, after all of them (hub.blob_folders).
"""

from __future__ import annotations

import contextlib
import hashlib
import itertools
import os
import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from datetime import datetime
from pathlib import Path
from typing import BinaryIO, Protocol

from hub.blob_folders import ShardFolders, fsync_dir

CHUNK = 1 << 16
_NEW_FILE = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0)
_KEY = re.compile(r"[0-9a-f]{64}")
_SHARD = re.compile(r"[0-9a-f]{2}")
_TEMP = re.compile(r"put-\d+-\d+")  # a write's temporary file (`DiskBlobStore._open_temp`)
_TOMB = re.compile(r"put-\d+-\d+\.old")  # a blob `delete` moved out of its name


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

    def put_many(self, contents: Sequence[bytes], *, settle: bool = True) -> list[str]:
        """`put` each of `contents` (sizes checked by the caller), keys in order: one call for the
        files of one message, so a store can share work between them (an object store may simply
        put each). With `settle=False` the blobs are whole under their keys on return, but durable
        only once `settle(keys)` returned (a store whose puts are durable at once ignores it)."""
        ...

    def settle(self, keys: Iterable[str]) -> None:
        """After `put_many(settle=False)`: its blobs are durable on return (a no-op for a store
        whose puts are durable at once, as an object store's are)."""
        ...

    def settled(self, keys: Iterable[str]) -> bool:
        """Whether `settle(keys)` has nothing left to do; answers at once, without I/O (an event
        loop asks it to skip a thread hand-off). True for a store whose puts are durable at once."""
        ...

    def open(self, key: str) -> BinaryIO:
        """The blob for reading (close it when done). Raises BlobNotFound."""
        ...

    def size(self, key: str) -> int:
        """The blob's size in bytes. Raises BlobNotFound."""
        ...

    def keys(self, *, written_before: datetime) -> Iterator[str]:
        """The keys of the blobs written, or handed out again by `put`, before that time, in no
        particular order (for the sweep of those no stored attachment names, hub.attachments.orphans;
        an object store: ListObjectsV2 by LastModified)."""
        ...

    def delete(self, key: str, *, written_before: datetime | None = None) -> bool:
        """Remove the blob; False when it is not there, or (with `written_before`) when it was
        written, or handed out again by `put`, at or after that time."""
        ...

    def remove_leftovers(self, *, written_before: datetime) -> int:
        """Remove what writes (or deletes) cut short by a crash left behind, untouched since before
        that time (never a write still in flight); returns how many were removed."""
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
        self._tmp_name = os.path.join(self._tmp, f"put-{os.getpid()}-")
        self._names = itertools.count()
        self._folders = ShardFolders.of(os.path.abspath(self.root))

    def path(self, key: str) -> Path:
        if not isinstance(key, str) or not _KEY.fullmatch(key):
            raise BlobNotFound(key)
        return self.root / key[:2] / key[2:4] / key

    def put(self, content: bytes | BinaryIO, *, content_type: str | None = None, filename: str | None = None,
            max_bytes: int | None = None) -> str:
        if isinstance(content, bytes | bytearray | memoryview):
            if max_bytes is not None and len(content) > max_bytes:
                raise BlobTooLarge(max_bytes)
            return self.put_many([bytes(content)])[0]
        digest = hashlib.sha256()
        size = 0
        fd, tmp_name = self._open_temp()
        try:
            try:
                for chunk in _chunks(content):
                    size += len(chunk)
                    if max_bytes is not None and size > max_bytes:
                        raise BlobTooLarge(max_bytes)
                    digest.update(chunk)
                    _write_all(fd, chunk)
                os.fsync(fd)
            finally:
                os.close(fd)
            key = digest.hexdigest()
            if self._refresh(key):
                os.unlink(tmp_name)
            else:
                self._folders.rename_into(key, tmp_name)
        except BaseException:
            _unlink_quietly(tmp_name)
            raise
        self._folders.settle([key])
        return key

    def put_many(self, contents: Sequence[bytes], *, settle: bool = True) -> list[str]:
        """Keep each of `contents` as `put` does (no limit: the caller checked their sizes) and
        return their keys in order. Bytes already kept are not written again (their time is
        refreshed); each folder that gained an entry is fsync'd once, after all of them, or, with
        `settle=False`, when the caller calls `settle(keys)` (hub.blob_folders)."""
        keys = [hashlib.sha256(c).hexdigest() for c in contents]
        done: set[str] = set()
        for key, content in zip(keys, contents, strict=True):
            if key in done:
                continue
            done.add(key)
            if self._refresh(key):
                continue
            tmp_name = self._write_temp(content)
            try:  # should another thread have put the same bytes meanwhile, this replaces them
                self._folders.rename_into(key, tmp_name)
            except BaseException:
                _unlink_quietly(tmp_name)
                raise
        if settle:
            self.settle(done)
        return keys

    def settle(self, keys: Iterable[str]) -> None:
        self._folders.settle(keys)

    def settled(self, keys: Iterable[str]) -> bool:
        return self._folders.settled(keys)

    def _refresh(self, key: str) -> bool:
        """Whether the blob is there already; if so it is young again (see `delete`)."""
        target = self._folders.target(key)
        if not os.access(target, os.F_OK):  # a new file's usual answer, without raising
            return False
        try:
            os.utime(target)
        except FileNotFoundError:
            return False
        return True

    def _open_temp(self) -> tuple[int, str]:
        """A new temporary file of this store's, open for writing (os.open with O_EXCL: no
        tempfile machinery; the name is this process's and a counter's, so it is unique here and a
        leftover of an earlier process with the same pid is stepped over)."""
        while True:
            name = f"{self._tmp_name}{next(self._names)}"
            try:
                return os.open(name, _NEW_FILE, 0o600), name
            except FileExistsError:
                continue
            except FileNotFoundError:  # the first put here (or someone removed the folder)
                self._folders.make_root()
                os.makedirs(self._tmp, exist_ok=True)

    def _write_temp(self, content: bytes) -> str:
        fd, name = self._open_temp()
        try:
            try:
                _write_all(fd, content)
                os.fsync(fd)
            finally:
                os.close(fd)
        except BaseException:
            _unlink_quietly(name)
            raise
        return name

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

    def keys(self, *, written_before: datetime) -> Iterator[str]:
        cutoff = written_before.timestamp()
        for top in _entries(os.fspath(self.root), _SHARD):
            for leaf in _entries(top.path, _SHARD):
                prefix = top.name + leaf.name
                for blob in _entries(leaf.path, _KEY):
                    if blob.name.startswith(prefix) and blob.is_file(follow_symlinks=False):
                        with contextlib.suppress(FileNotFoundError):
                            if blob.stat(follow_symlinks=False).st_mtime < cutoff:
                                yield blob.name

    def delete(self, key: str, *, written_before: datetime | None = None) -> bool:
        try:
            path = self.path(key)
            if written_before is None:
                path.unlink()
                return True
            cutoff = written_before.timestamp()
            if path.stat().st_mtime >= cutoff:
                return False
            # A mail with the same bytes may hand the blob out again between that look and the
            # removal (`_refresh` makes it young). So: out of its name first (from here on a put
            # writes it anew), look at its time again, and put it back if it was refreshed.
            tomb = f"{self._tmp_name}{next(self._names)}.old"
            os.makedirs(self._tmp, exist_ok=True)
            os.rename(path, tomb)
        except (BlobNotFound, FileNotFoundError):
            return False
        try:
            if os.stat(tomb).st_mtime < cutoff:
                return True
            with contextlib.suppress(FileExistsError):  # a put wrote it anew meanwhile: that one stays
                os.link(tomb, path)
                fsync_dir(os.path.dirname(path))
            return False
        finally:
            _unlink_quietly(tomb)


    def remove_leftovers(self, *, written_before: datetime) -> int:
        """Removes the temporary files in `tmp` a crash left: a write's (`put-<pid>-<n>`) not
        written to since before `written_before` (a write in flight, in any process, keeps its
        file's time fresh with every chunk), and a blob `delete` had moved out of its name
        (`put-<pid>-<n>.old`) when that move was before it. The move keeps the blob's own old
        modification time, so a tomb's age is its change time (the rename sets it): a delete going
        on in another process is never cut short. Anything else in `tmp` is left alone."""
        cutoff = written_before.timestamp()
        removed = 0
        for entry in _entries(os.fspath(self._tmp), _TEMP):
            removed += _unlink_if_older(entry, cutoff, lambda st: st.st_mtime)
        for entry in _entries(os.fspath(self._tmp), _TOMB):
            removed += _unlink_if_older(entry, cutoff, lambda st: max(st.st_mtime, st.st_ctime))
        return removed


def _unlink_if_older(entry: os.DirEntry[str], cutoff: float, age: Callable[[os.stat_result], float]) -> bool:
    try:
        if not entry.is_file(follow_symlinks=False) or age(entry.stat(follow_symlinks=False)) >= cutoff:
            return False
        os.unlink(entry.path)
    except FileNotFoundError:  # its writer renamed it into place, or removed it, meanwhile
        return False
    return True


def _entries(folder: str, name: re.Pattern[str]) -> list[os.DirEntry[str]]:
    """The entries of `folder` named like `name` (none when it is gone)."""
    try:
        with os.scandir(folder) as found:
            return [e for e in found if name.fullmatch(e.name)]
    except FileNotFoundError:
        return []


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


def _unlink_quietly(name: str) -> None:
    with contextlib.suppress(FileNotFoundError):
        os.unlink(name)
