"""The shard folders of a `hub.blobs.DiskBlobStore` (`ab/cd` under its root): each made once by a
process, and fsync'd only when it gained an entry, once per call however many it gained.

A blob is durable once its bytes (fsync'd before the rename), its entry in `ab/cd`, `cd`'s entry in
`ab` and `ab`'s entry in the root are on disk. So a call fsyncs, after all its renames and folder
makings, each folder it made an entry in (a blob renamed into it, a new shard folder made in it),
once: two files renamed into one folder share an fsync. A folder it made no entry in needs none,
with one exception: a folder where another thread of this process made an entry (a blob, a shard
folder) whose fsync has not finished yet, when this call relies on it (it found that blob there
and handed out its key, or renamed its own blob into that new folder). Such a call fsyncs that
folder too rather than answer with a blob a crash could still take: the row that names it is
committed as soon as the call returns. Entries made by earlier processes were fsync'd by them.
"""

from __future__ import annotations

import os
import threading
from collections import Counter
from collections.abc import Iterable


class FolderEntries(Counter[str]):
    """The entries one call made, by folder: what its `ShardFolders.sync` fsyncs."""


class ShardFolders:
    """One per store folder and process (`of`): every store object on it sees the same entries."""

    _all: dict[str, ShardFolders] = {}
    _all_lock = threading.Lock()

    @classmethod
    def of(cls, root: str) -> ShardFolders:
        with cls._all_lock:
            folders = cls._all.get(root)
            if folders is None:
                folders = cls._all[root] = cls(root)
            return folders

    def __init__(self, root: str) -> None:
        self.root = root
        self._known: set[str] = set()  # `ab/cd` folders that exist (made here, or found)
        self._root_made = False
        self._unsynced: Counter[str] = Counter()  # entries made in a folder whose fsync has not finished
        self._lock = threading.Lock()

    def target(self, key: str) -> str:
        """The blob's path (the key is one `DiskBlobStore` minted: 64 hex digits)."""
        return f"{self.root}/{key[:2]}/{key[2:4]}/{key}"

    def rename_into(self, key: str, tmp_name: str, made: FolderEntries) -> None:
        """The complete, fsync'd file `tmp_name` becomes the blob `key` (durable after `sync`)."""
        for again in (True, False):
            leaf = self._leaf(key, made)
            self._enter(leaf, made)
            try:
                os.replace(tmp_name, f"{leaf}/{key}")
                return
            except BaseException as exc:
                self._leave(leaf, made)
                self._known.discard(leaf)  # the folder may be gone (someone emptied the store)
                self._root_made = False
                if not (again and isinstance(exc, FileNotFoundError) and os.path.exists(tmp_name)):
                    raise

    def sync(self, made: FolderEntries, keys: Iterable[str]) -> None:
        """Make the entries of this call, and those of others it relies on for `keys`, durable."""
        with self._lock:
            pending = [f for f in self._unsynced if f not in made]  # others' entries, not yet fsync'd
        others: list[str] = []
        if pending:
            relied = {f for key in keys for f in (self.root, f"{self.root}/{key[:2]}",
                                                  f"{self.root}/{key[:2]}/{key[2:4]}")}
            others = sorted(f for f in pending if f in relied)
        for folder in [*made, *others]:
            fsync_dir(folder)
            if folder in made:  # after its fsync only: a failed one leaves the folder unsynced
                with self._lock:
                    self._unsynced.subtract({folder: made[folder]})
                    if self._unsynced[folder] <= 0:
                        del self._unsynced[folder]

    def _leaf(self, key: str, made: FolderEntries) -> str:
        top = f"{self.root}/{key[:2]}"
        leaf = f"{top}/{key[2:4]}"
        if leaf not in self._known:
            if not self._root_made:
                self.make_root()
            self._mkdir(self.root, top, made)
            self._mkdir(top, leaf, made)
            self._known.add(leaf)
        return leaf

    def make_root(self) -> None:
        """The store's folder itself, if it is not there yet (durable at once: it happens once)."""
        if not os.path.isdir(self.root):
            os.makedirs(self.root, exist_ok=True)
            fsync_dir(os.path.dirname(os.path.abspath(self.root)))
        self._root_made = True

    def _mkdir(self, parent: str, folder: str, made: FolderEntries) -> None:
        self._enter(parent, made)
        try:
            os.mkdir(folder)
        except FileExistsError:
            self._leave(parent, made)
        except BaseException:
            self._leave(parent, made)
            raise

    def _enter(self, folder: str, made: FolderEntries) -> None:
        """Before an entry is made in `folder`: until its fsync, others relying on it fsync too."""
        with self._lock:
            self._unsynced[folder] += 1
        made[folder] += 1

    def _leave(self, folder: str, made: FolderEntries) -> None:
        """The entry was not made after all."""
        with self._lock:
            self._unsynced[folder] -= 1
            if self._unsynced[folder] <= 0:
                del self._unsynced[folder]
        made[folder] -= 1
        if made[folder] <= 0:
            del made[folder]


def fsync_dir(path: str) -> None:
    """A rename or a mkdir is durable only once the folder's entry is on disk."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
