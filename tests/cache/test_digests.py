"""Remembered digests: unchanged files are not read again; changed or just-written ones are."""

from __future__ import annotations

import hashlib
import os
import time
from pathlib import Path

from modelbay.blobs.digest import sha256_file
from modelbay.sdk.digests import RACY_SECONDS, DigestIndex


class Counting:
    def __init__(self) -> None:
        self.calls = 0

    def __call__(self, path: Path) -> tuple[str, int]:
        self.calls += 1
        return sha256_file(path)


def old_file(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    past = time.time() - 10 * RACY_SECONDS
    os.utime(path, (past, past))
    return path


def test_unchanged_file_is_not_hashed_again(tmp_path: Path) -> None:
    index = DigestIndex(tmp_path / "idx" / "digests.db")
    f = old_file(tmp_path / "w.bin", b"weights")
    hasher = Counting()
    first = index.digest(f, hasher)
    second = index.digest(f, hasher)
    assert first == second == (hashlib.sha256(b"weights").hexdigest(), 7)
    assert hasher.calls == 1


def test_changed_file_is_hashed_again(tmp_path: Path) -> None:
    index = DigestIndex(tmp_path / "digests.db")
    f = old_file(tmp_path / "w.bin", b"weights")
    hasher = Counting()
    index.digest(f, hasher)
    old_file(f, b"WEIGHTS")  # same size, new content, and a different mtime/ctime
    assert index.digest(f, hasher) == (hashlib.sha256(b"WEIGHTS").hexdigest(), 7)
    assert hasher.calls == 2


def test_a_file_written_just_now_is_not_remembered(tmp_path: Path) -> None:
    index = DigestIndex(tmp_path / "digests.db")
    f = tmp_path / "fresh.bin"
    f.write_bytes(b"fresh")
    hasher = Counting()
    index.digest(f, hasher)
    index.digest(f, hasher)
    assert hasher.calls == 2  # racy: could change again without its stat changing


def test_an_unusable_index_means_hashing(tmp_path: Path) -> None:
    (tmp_path / "blocked").write_text("a file where the index directory should be")
    index = DigestIndex(tmp_path / "blocked" / "digests.db")
    f = old_file(tmp_path / "w.bin", b"x")
    assert index.digest(f, Counting()) == (hashlib.sha256(b"x").hexdigest(), 1)


def test_many_files_at_once_hash_only_what_changed(tmp_path: Path) -> None:
    index = DigestIndex(tmp_path / "digests.db")
    files = [old_file(tmp_path / f"f{i}.bin", f"weights {i}".encode()) for i in range(20)]
    hashed: list[Path] = []

    def hash_all(paths: list[Path]) -> list[tuple[str, int]]:
        hashed.extend(paths)
        return [sha256_file(p) for p in paths]

    expected = [(hashlib.sha256(f.read_bytes()).hexdigest(), f.stat().st_size) for f in files]
    assert index.digest_many(files, hash_all) == expected
    assert len(hashed) == 20
    old_file(files[7], b"WEIGHTS 7")
    hashed.clear()
    again = index.digest_many(files, hash_all)
    assert hashed == [files[7]]
    assert again[7] == (hashlib.sha256(b"WEIGHTS 7").hexdigest(), 9)
    assert again[:7] == expected[:7] and again[8:] == expected[8:]


def test_an_index_written_by_an_older_client_is_still_used(tmp_path: Path) -> None:
    import sqlite3

    f = old_file(tmp_path / "w.bin", b"weights")
    st = f.stat()
    db = tmp_path / "digests.db"
    old = sqlite3.connect(db)
    old.execute(
        "CREATE TABLE digests (path TEXT PRIMARY KEY, dev INTEGER NOT NULL, ino INTEGER NOT NULL,"
        " size INTEGER NOT NULL, mtime_ns INTEGER NOT NULL, ctime_ns INTEGER NOT NULL,"
        " sha256 TEXT NOT NULL)"
    )
    digest = hashlib.sha256(b"weights").hexdigest()
    old.execute(
        "INSERT INTO digests VALUES (?, ?, ?, ?, ?, ?, ?)",
        (
            str(f.resolve()),
            st.st_dev,
            st.st_ino,
            st.st_size,
            st.st_mtime_ns,
            st.st_ctime_ns,
            digest,
        ),
    )
    old.commit()
    old.close()
    hasher = Counting()
    assert DigestIndex(db).digest(f, hasher) == (digest, 7)
    assert hasher.calls == 0  # trusted as before


def test_a_file_just_written_is_seen_but_hashed_again(tmp_path: Path) -> None:
    index = DigestIndex(tmp_path / "digests.db")
    f = tmp_path / "fresh.bin"
    f.write_bytes(b"fresh")
    assert not index.seen(f, f.stat())
    hasher = Counting()
    index.digest(f, hasher)
    assert index.seen(f, f.stat())  # a hint: it was hashed (and so most likely sent) before
    index.digest(f, hasher)
    assert hasher.calls == 2
    f.write_bytes(b"FRESH!")
    assert not index.seen(f, f.stat())


def test_provisional_uploads_are_remembered_by_server_and_stat(tmp_path: Path) -> None:
    index = DigestIndex(tmp_path / "digests.db")
    f = old_file(tmp_path / "big.bin", b"x" * 100)
    st = f.stat()
    index.remember_upload("http://a", f, st, "abc123")
    assert index.provisional_upload("http://a", f, st) == "abc123"
    assert index.provisional_upload("http://b", f, st) is None
    old_file(f, b"y" * 100)
    assert index.provisional_upload("http://a", f, f.stat()) is None  # changed since
    index.remember_upload("http://a", f, st, None)
    assert index.provisional_upload("http://a", f, st) is None
