"""The shard folders of a `hub.blobs.DiskBlobStore` (`ab/cd` under its root): each made once by a
process, and fsync'd only when it gained an entry, once however many it gained.

A blob is durable once its bytes (fsync'd before the rename), its entry in `ab/cd`, `cd`'s entry in
`ab` and `ab`'s entry in the root are on disk. Each folder counts the entries this process made in
it (a blob renamed into it, a shard folder made in it) and how many of them a finished fsync
covers: an fsync covers the entries counted when it began only if none of them was still being
made then (counted before the rename or mkdir, so that whoever finds the entry finds it counted).
`settle(keys)` fsyncs, of the three folders each key's blob hangs from, those with an entry no
finished fsync covers yet, whoever made it: a call that found a blob another thread has
just renamed into place, and handed out its key, waits for that entry too, rather than answer with
a blob a crash could still take (the row that names it may commit as soon as it returns). Two
files renamed into one folder share an fsync. A folder this process has not fsync'd yet is
fsync'd the first time a settle relies on it, whoever made its entries: an earlier process may
have died between a rename and its folder's fsync (the listener answers only after the settle,
so the relay's retry finds that blob and hands out its key).

`DiskBlobStore.put_many(settle=False)` leaves the settling to its caller, so the folders' fsyncs
can run while the message that names the blobs is written (`HubPort.keep_files_async(settle=False)`,
the email listener's `channels.email.files.ingest_settled`): the bytes are fsync'd before the
rename, so a blob is either whole under its key or not there at all, and the channel acknowledges
the message only once both are done.
"""

from __future__ import annotations

import os
import threading
from collections import Counter
from collections.abc import Iterable


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
        self._made: Counter[str] = Counter()  # entries made in a folder by this process
        self._synced: dict[str, int] = {}  # how many of them a finished fsync of this process covers
        self._making: Counter[str] = Counter()  # of those, entries counted but not made (or failed) yet
        self._lock = threading.Lock()

    def target(self, key: str) -> str:
        """The blob's path (the key is one `DiskBlobStore` minted: 64 hex digits)."""
        return f"{self.root}/{key[:2]}/{key[2:4]}/{key}"

    def rename_into(self, key: str, tmp_name: str) -> None:
        """The complete, fsync'd file `tmp_name` becomes the blob `key` (durable after `settle`)."""
        for again in (True, False):
            leaf = self._leaf(key)
            self._enter(leaf)
            try:
                os.replace(tmp_name, f"{leaf}/{key}")
                return
            except BaseException as exc:
                self._known.discard(leaf)  # the folder may be gone (someone emptied the store)
                self._root_made = False
                if not (again and isinstance(exc, FileNotFoundError) and os.path.exists(tmp_name)):
                    raise
            finally:
                self._entered(leaf)

    def settle(self, keys: Iterable[str]) -> None:
        """Make the entries these keys' blobs hang from durable: fsync each of their folders with
        an entry no finished fsync covers (see the module's notes)."""
        for folder in self._folders_of(keys):
            with self._lock:
                made = self._made[folder]
                if self._synced.get(folder, -1) >= made:
                    continue
                # An entry counted but not made yet may be made after the fsync began: this fsync
                # covers this call's own entries (all made), not that one.
                covers = not self._making[folder]
            fsync_dir(folder)
            if covers:
                with self._lock:  # after its fsync only: a failed one leaves the folder unsettled
                    if self._synced.get(folder, -1) < made:
                        self._synced[folder] = made

    def settled(self, keys: Iterable[str]) -> bool:
        """Whether `settle(keys)` would have nothing to do (no system call: fit for an event loop)."""
        with self._lock:
            return all(self._synced.get(f, -1) >= self._made[f] for f in self._folders_of(keys))

    def _folders_of(self, keys: Iterable[str]) -> list[str]:
        return sorted({f for key in keys
                       for f in (self.root, f"{self.root}/{key[:2]}", f"{self.root}/{key[:2]}/{key[2:4]}")})

    def _leaf(self, key: str) -> str:
        top = f"{self.root}/{key[:2]}"
        leaf = f"{top}/{key[2:4]}"
        if leaf not in self._known:
            if not self._root_made:
                self.make_root()
            self._mkdir(self.root, top)
            self._mkdir(top, leaf)
            self._known.add(leaf)
        return leaf

    def make_root(self) -> None:
        """The store's folder itself, if it is not there yet (durable at once: it happens once)."""
        if not os.path.isdir(self.root):
            os.makedirs(self.root, exist_ok=True)
            fsync_dir(os.path.dirname(os.path.abspath(self.root)))
        self._root_made = True

    def _mkdir(self, parent: str, folder: str) -> None:
        if os.path.isdir(folder):  # a thread here counted it, or an earlier process made it (`settle`
            return                 # then fsyncs its parent once in this process)
        self._enter(parent)
        try:
            os.mkdir(folder)
        except FileExistsError:
            pass  # someone made it meanwhile: counted all the same, at worst one fsync more
        finally:
            self._entered(parent)

    def _enter(self, folder: str) -> None:
        """Before an entry is made in `folder` (one that is not made after all costs an fsync more)."""
        with self._lock:
            self._made[folder] += 1
            self._making[folder] += 1

    def _entered(self, folder: str) -> None:
        """After the entry `_enter` counted is made (or failed to be)."""
        with self._lock:
            self._making[folder] -= 1
            if not self._making[folder]:
                del self._making[folder]


def fsync_dir(path: str) -> None:
    """A rename or a mkdir is durable only once the folder's entry is on disk."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
