"""The disk blob store: atomic writes, keys that cannot leave its folder, the size limit."""

from __future__ import annotations

import hashlib
import io
import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from hub import blobs
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
