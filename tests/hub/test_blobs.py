"""The disk blob store: atomic writes, keys that cannot leave its folder, the size limit."""

from __future__ import annotations

import hashlib
import io
import itertools
import os
import shutil
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from hub import blob_folders, blobs
from hub.blobs import BlobNotFound, BlobTooLarge, DiskBlobStore, describe_size


def test_a_file_put_reads_back_whole_under_its_content_hash(tmp_path: Path) -> None:
    store = DiskBlobStore(tmp_path)
    content = os.urandom(200_000)
    key = store.put(io.BytesIO(content))
    assert key == hashlib.sha256(content).hexdigest()
    with store.open(key) as f:
        assert f.read() == content
    assert store.size(key) == len(content)
    assert store.put(content) == key, "the same bytes are kept once"
    assert list((tmp_path / "tmp").iterdir()) == [], "no temporary file is left behind"


def test_a_write_that_fails_midway_leaves_nothing_readable(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    store = DiskBlobStore(tmp_path)
    content = b"x" * 300_000

    def failing_fsync(fd: int) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(blobs.os, "fsync", failing_fsync)
    with pytest.raises(OSError, match="disk full"):
        store.put(content)
    monkeypatch.undo()
    key = hashlib.sha256(content).hexdigest()
    with pytest.raises(BlobNotFound):
        store.open(key)
    assert list((tmp_path / "tmp").iterdir()) == []
    assert [p for p in tmp_path.rglob("*") if p.is_file()] == []


def test_the_blob_appears_only_by_rename_of_a_complete_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    store = DiskBlobStore(tmp_path)
    renames: list[tuple[str, int]] = []
    real_replace = os.replace

    def watching_replace(src: str, dst: str) -> None:
        renames.append((str(dst), Path(src).stat().st_size))
        real_replace(src, dst)

    monkeypatch.setattr(blobs.os, "replace", watching_replace)
    key = store.put(b"a" * 100_000)
    assert renames == [(str(store.path(key)), 100_000)]


@pytest.mark.parametrize("key", ["../../etc/passwd", "/etc/passwd", "..", "", "a" * 63, "A" * 64, "g" * 64,
                                 "0" * 64 + "/../x", "0" * 63 + "\x00"])
def test_a_key_that_is_not_one_the_store_mints_is_not_found(tmp_path: Path, key: str) -> None:
    store = DiskBlobStore(tmp_path / "store")
    (tmp_path / "secret").write_bytes(b"secret")
    with pytest.raises(BlobNotFound):
        store.open(key)
    with pytest.raises(BlobNotFound):
        store.size(key)
    store.delete(key)  # nothing to do, and nothing outside the folder touched
    assert (tmp_path / "secret").read_bytes() == b"secret"


def test_over_the_limit_nothing_is_kept_and_the_words_say_the_limit(tmp_path: Path) -> None:
    store = DiskBlobStore(tmp_path)
    with pytest.raises(BlobTooLarge, match="over the limit of 1 KB"):
        store.put(io.BytesIO(b"z" * 1025), max_bytes=1024)
    assert [p for p in tmp_path.rglob("*") if p.is_file()] == []
    assert store.put(b"z" * 1024, max_bytes=1024)


def test_a_blob_handed_out_again_while_prune_removes_it_is_kept(tmp_path: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """Prune looked at the blob (old), then a mail with the same bytes took it (made it young),
    then prune removed it: the mail's committed row would name nothing. The blob stays."""
    store = DiskBlobStore(tmp_path)
    key = store.put(b"the same logo")
    two_hours_ago = (datetime.now(UTC) - timedelta(hours=2)).timestamp()
    os.utime(store.path(key), (two_hours_ago, two_hours_ago))
    rename = os.rename

    def taken_meanwhile(src: str | Path, dst: str | Path) -> None:
        if Path(src) == store.path(key):
            assert store.put_many([b"the same logo"]) == [key]  # between prune's look and its removal
        rename(src, dst)

    monkeypatch.setattr(os, "rename", taken_meanwhile)
    assert store.delete(key, written_before=datetime.now(UTC) - timedelta(hours=1)) is False
    assert store.open(key).read() == b"the same logo"
    assert [p.name for p in (tmp_path / "tmp").iterdir()] == []  # nothing left aside


def test_delete_removes_the_blob(tmp_path: Path) -> None:
    store = DiskBlobStore(tmp_path)
    key = store.put(b"bye")
    assert store.delete(key) is True
    assert store.delete(key) is False
    with pytest.raises(BlobNotFound):
        store.open(key)


def test_a_blob_handed_out_again_is_young_and_not_deleted_as_old(tmp_path: Path) -> None:
    store = DiskBlobStore(tmp_path)
    key = store.put(b"the same logo")
    two_hours_ago = (datetime.now(UTC) - timedelta(hours=2)).timestamp()
    os.utime(store.path(key), (two_hours_ago, two_hours_ago))  # stored long ago
    assert store.put(b"the same logo") == key  # a new mail carries it again, right now
    an_hour_ago = datetime.now(UTC) - timedelta(hours=1)
    assert store.delete(key, written_before=an_hour_ago) is False
    assert store.open(key).read() == b"the same logo"
    os.utime(store.path(key), (two_hours_ago, two_hours_ago))
    assert store.delete(key, written_before=an_hour_ago) is True


def test_sizes_read_as_people_read_them() -> None:
    assert [describe_size(n) for n in (900, 1024, 1536, 25 * 1024 * 1024, 3 * 1024**3)] == \
        ["900 bytes", "1 KB", "1.5 KB", "25 MB", "3 GB"]


def _fsyncs(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The folders fsync'd from now on, in order."""
    synced: list[str] = []
    real = blob_folders.fsync_dir

    def recording(path: str) -> None:
        synced.append(path)
        real(path)

    monkeypatch.setattr(blob_folders, "fsync_dir", recording)
    return synced


def _same_folder_pair() -> tuple[bytes, bytes]:
    """Two contents whose blobs share a shard folder (the first four hex digits of their hash)."""
    seen: dict[str, bytes] = {}
    for i in itertools.count():
        content = b"file %d" % i
        folder = hashlib.sha256(content).hexdigest()[:4]
        if folder in seen:
            return seen[folder], content
        seen[folder] = content
    raise AssertionError("unreachable")


def test_files_kept_in_one_call_read_back_whole_each_under_the_path_put_gives(tmp_path: Path) -> None:
    store = DiskBlobStore(tmp_path)
    contents = [os.urandom(70_000), b"the original message", b"", b"the original message"]
    keys = store.put_many(contents)
    assert keys == [hashlib.sha256(c).hexdigest() for c in contents]
    for key, content in zip(keys, contents, strict=True):
        assert store.path(key) == tmp_path / key[:2] / key[2:4] / key  # where every earlier blob lives
        with store.open(key) as f:
            assert f.read() == content
        assert store.size(key) == len(content)
    assert DiskBlobStore(tmp_path).put(contents[0]) == keys[0], "another store on the folder finds them"
    assert list((tmp_path / "tmp").iterdir()) == [], "no temporary file is left behind"


def test_every_folder_that_gained_an_entry_is_fsynced_once_before_the_call_returns(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    store = DiskBlobStore(tmp_path)
    synced = _fsyncs(monkeypatch)
    first, second = _same_folder_pair()
    key = store.put_many([first, second])[0]
    top, leaf = tmp_path / key[:2], tmp_path / key[:2] / key[2:4]
    assert sorted(synced) == sorted(map(str, [tmp_path, top, leaf])), \
        "the two blobs' folder once, and the new folders' parents"

    synced.clear()
    store.put_many([first, second])  # kept already: no new entry anywhere
    assert synced == []
    third = next(c for c in (b"x%d" % i for i in itertools.count()) if hashlib.sha256(c).hexdigest()[:4] == key[:4])
    store.put_many([third])  # a new blob in a folder this process made: only that folder
    assert synced == [str(leaf)]


def test_bytes_kept_already_are_not_written_again(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    store = DiskBlobStore(tmp_path)
    key = store.put(b"the same logo")
    writes: list[int] = []
    real_write = os.write
    monkeypatch.setattr(blobs.os, "write", lambda fd, data: writes.append(len(data)) or real_write(fd, data))
    assert store.put_many([b"the same logo", b"the same logo"]) == [key, key]
    assert writes == []


def test_a_blob_another_thread_renamed_but_has_not_fsynced_yet_is_fsynced_by_whoever_hands_it_out(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    store = DiskBlobStore(tmp_path)
    content = b"the contract, sent twice at once"
    key = hashlib.sha256(content).hexdigest()
    leaf = str(store.path(key).parent)
    first_in_fsync, release = threading.Event(), threading.Event()
    synced_by: list[tuple[str, str]] = []
    real = blob_folders.fsync_dir

    def slow_for_the_first(path: str) -> None:
        name = threading.current_thread().name
        if name == "first" and path == leaf:
            first_in_fsync.set()
            assert release.wait(10)
        synced_by.append((name, path))
        real(path)

    monkeypatch.setattr(blob_folders, "fsync_dir", slow_for_the_first)
    first = threading.Thread(target=store.put_many, args=([content],), name="first")
    first.start()
    assert first_in_fsync.wait(10)  # its blob is renamed into place, its folder's fsync not done
    answered: list[list[str]] = []
    second = threading.Thread(target=lambda: answered.append(store.put_many([content])), name="second")
    second.start()
    second.join(10)
    assert answered == [[key]], "the second call finds the blob there and hands out its key"
    assert ("second", leaf) in synced_by, "not before its folder entry is on disk"
    release.set()
    first.join(10)
    synced_by.clear()
    assert store.put_many([content]) == [key]
    assert synced_by == [], "once the first call's fsync finished, nobody needs another"


def test_a_folder_fsync_that_began_before_an_entry_was_made_is_not_taken_to_cover_it(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Another thread settles the same folder between the moment a put counts its coming entry and
    the rename itself: that fsync ran before the entry existed, so the put must fsync again."""
    store = DiskBlobStore(tmp_path)
    first, second = _same_folder_pair()
    key = store.put(first)  # the shard folders exist and are settled
    leaf = str(store.path(key).parent)
    events: list[tuple[str, str]] = []
    real_fsync, real_replace = blob_folders.fsync_dir, os.replace

    def fsync(path: str) -> None:
        events.append(("fsync", path))
        real_fsync(path)

    def replace(src: str, dst: str) -> None:
        store.settle([key])  # the other thread: its blob hangs from the same folder
        real_replace(src, dst)
        events.append(("entry", os.path.dirname(dst)))

    monkeypatch.setattr(blob_folders, "fsync_dir", fsync)
    monkeypatch.setattr(os, "replace", replace)
    store.put_many([second])
    assert ("entry", leaf) in events
    assert ("fsync", leaf) in events[events.index(("entry", leaf)):], "the new blob's entry is on disk"


def test_a_root_fsync_that_began_before_a_shard_folder_was_made_is_not_taken_to_cover_it(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    store = DiskBlobStore(tmp_path)
    other = store.put(b"another thread's file")
    content = next(c for c in (b"y%d" % i for i in itertools.count())
                   if hashlib.sha256(c).hexdigest()[:2] != other[:2])
    events: list[tuple[str, str]] = []
    real_fsync, real_mkdir = blob_folders.fsync_dir, os.mkdir

    def fsync(path: str) -> None:
        events.append(("fsync", path))
        real_fsync(path)

    def mkdir(path: str, *args: object) -> None:
        store.settle([other])  # the other thread settles its file, which hangs from the root too
        real_mkdir(path, *args)  # type: ignore[arg-type]
        events.append(("entry", os.path.dirname(path)))

    monkeypatch.setattr(blob_folders, "fsync_dir", fsync)
    monkeypatch.setattr(os, "mkdir", mkdir)
    store.put_many([content])
    root = str(tmp_path)
    assert ("entry", root) in events
    assert ("fsync", root) in events[events.index(("entry", root)):], "the new shard folder's entry is on disk"


def test_a_store_whose_folder_is_not_there_yet_makes_it_durably(tmp_path: Path,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    synced = _fsyncs(monkeypatch)
    store = DiskBlobStore(tmp_path / "new" / "store")
    key = store.put(b"first")
    assert str(tmp_path / "new") in synced and str(tmp_path / "new" / "store") in synced
    assert store.open(key).read() == b"first"


def test_the_keys_of_old_blobs_are_listed_and_nothing_else(tmp_path: Path) -> None:
    store = DiskBlobStore(tmp_path)
    old, new = store.put_many([b"kept long ago", b"kept just now"])
    two_hours_ago = (datetime.now(UTC) - timedelta(hours=2)).timestamp()
    os.utime(store.path(old), (two_hours_ago, two_hours_ago))
    (tmp_path / "tmp" / "put-1-1").write_bytes(b"a crash's half-written file")
    (tmp_path / old[:2] / "notes.txt").write_bytes(b"not a blob")
    an_hour_ago = datetime.now(UTC) - timedelta(hours=1)
    assert list(store.keys(written_before=an_hour_ago)) == [old]
    assert sorted(store.keys(written_before=datetime.now(UTC) + timedelta(minutes=1))) == sorted([old, new])
    assert list(DiskBlobStore(tmp_path / "nothing here").keys(written_before=an_hour_ago)) == []


def test_a_store_emptied_by_hand_while_the_hub_runs_keeps_files_again(tmp_path: Path) -> None:
    store = DiskBlobStore(tmp_path / "store")
    key = store.put(b"before")
    shutil.rmtree(tmp_path / "store")  # an admin wiped the folder
    assert DiskBlobStore(tmp_path / "store").put_many([b"after", b"before"])[1] == key
    assert store.open(key).read() == b"before"


def test_temporary_files_a_crash_left_are_removed_once_old_and_a_fresh_one_is_kept(tmp_path: Path) -> None:
    """A put cut short (the process killed mid-write) leaves its temporary file; one being written
    right now, by this process or another, is fresh and stays. Nothing else in `tmp` is touched."""
    store = DiskBlobStore(tmp_path)
    crashed, in_flight = store._open_temp(), DiskBlobStore(tmp_path)._open_temp()  # as two puts open them
    for fd, _ in (crashed, in_flight):
        os.write(fd, b"half of a file")
        os.close(fd)
    two_hours_ago = (datetime.now(UTC) - timedelta(hours=2)).timestamp()
    os.utime(crashed[1], (two_hours_ago, two_hours_ago))
    not_ours = tmp_path / "tmp" / "README"
    not_ours.write_bytes(b"an admin's note")
    os.utime(not_ours, (two_hours_ago, two_hours_ago))

    assert store.remove_leftovers(written_before=datetime.now(UTC) - timedelta(hours=1)) == 1
    assert not os.path.exists(crashed[1])
    assert Path(in_flight[1]).read_bytes() == b"half of a file" and not_ours.exists()
    assert store.remove_leftovers(written_before=datetime.now(UTC) - timedelta(hours=1)) == 0
    assert DiskBlobStore(tmp_path / "never used").remove_leftovers(written_before=datetime.now(UTC)) == 0


def test_a_blob_a_delete_is_moving_aside_is_not_taken_for_a_leftover(tmp_path: Path) -> None:
    """`delete` moves an old blob out of its name before it looks at its time again: the moved file
    keeps the blob's old modification time, but it was moved just now, so it stays until the move
    itself is old (a crash between the move and the removal)."""
    store = DiskBlobStore(tmp_path)
    key = store.put(b"an old logo")
    two_hours_ago = (datetime.now(UTC) - timedelta(hours=2)).timestamp()
    os.utime(store.path(key), (two_hours_ago, two_hours_ago))
    tomb = tmp_path / "tmp" / f"put-{os.getpid()}-99.old"
    os.rename(store.path(key), tomb)  # what `delete` does first, in another process

    assert store.remove_leftovers(written_before=datetime.now(UTC) - timedelta(hours=1)) == 0
    assert tomb.read_bytes() == b"an old logo"
    assert store.remove_leftovers(written_before=datetime.now(UTC) + timedelta(minutes=1)) == 1
    assert not tomb.exists()


def test_blobs_put_unsettled_are_settled_only_once_their_folders_are_fsynced(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    store = DiskBlobStore(tmp_path)
    synced = _fsyncs(monkeypatch)
    keys = store.put_many([b"the original", b"the invoice"], settle=False)
    assert synced == [] and not store.settled(keys), "whole under their keys, their folders not on disk yet"
    assert [store.open(k).read() for k in keys] == [b"the original", b"the invoice"]
    store.settle(keys)
    assert store.settled(keys) and set(synced) >= {str(store.path(k).parent) for k in keys}
    synced.clear()
    store.settle(keys)
    assert synced == [], "nothing left to do"
    assert DiskBlobStore(tmp_path).settled(keys), "another store object on the folder sees the same"


def test_a_blob_an_earlier_process_left_is_settled_once_by_the_first_call_that_hands_it_out(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """That process may have died between the rename and its folder's fsync (the relay, told
    nothing, sends the mail again): its folders are fsync'd before the key is handed out."""
    content = b"kept by a process that died before its fsync"
    key = hashlib.sha256(content).hexdigest()
    leaf = tmp_path / key[:2] / key[2:4]
    leaf.mkdir(parents=True)
    (leaf / key).write_bytes(content)
    synced = _fsyncs(monkeypatch)
    store = DiskBlobStore(tmp_path)
    assert store.put_many([content]) == [key]
    assert sorted(synced) == sorted(map(str, [tmp_path, tmp_path / key[:2], leaf]))
    synced.clear()
    assert store.put_many([content]) == [key] and synced == [], "once per process"
