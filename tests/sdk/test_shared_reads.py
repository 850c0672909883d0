"""A file read once for its hash and its parts (sdk/shared_reads.py): the hash and every
part's bytes are the file's, whether the senders keep up with the hash, fall behind it (their
chunks are then read again), or stop; and a file shorter than its parts is refused."""

from __future__ import annotations

import errno
import fcntl
import hashlib
import os
import threading
import time
from pathlib import Path

import pytest

from modelbay.errors import InvalidInputError
from modelbay.sdk import shared_reads
from modelbay.sdk.shared_reads import PAGE, SharedReads, chunk_for

CHUNK = 4 * PAGE
PART = 3 * CHUNK


@pytest.fixture(autouse=True)
def few_buffers(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(shared_reads, "BUFFER_BYTES", 6 * CHUNK)


def parts_of(size: int) -> list[tuple[int, int]]:
    return [(o, min(PART, size - o)) for o in range(0, size, PART)]


def run(path: Path, sends: list[tuple[int, int]], pause: float = 0.0) -> tuple[tuple, list, int]:
    """Hash ``path`` while two senders take the parts ``sends``; (hash, bytes of each part,
    chunks given up by the hash)."""
    reads = SharedReads(path, CHUNK, sends)
    got: list[bytes] = [b""] * len(sends)
    hashed: list[tuple[str, int]] = []
    try:

        def send(k: int) -> None:
            for j in range(k, len(sends), 2):
                for view in reads.part(*sends[j]):
                    time.sleep(pause)
                    got[j] += bytes(view)

        senders = [threading.Thread(target=send, args=(k,)) for k in range(2)]
        for t in senders:
            t.start()
        hashed.append(reads.hash())
        for t in senders:
            t.join()
    finally:
        reads.close()
    return hashed[0], got, reads.given_up


@pytest.mark.parametrize("size", [0, 1, PAGE + 5, 7 * PART, 7 * PART + 100])
def test_the_hash_and_the_parts_are_the_files(tmp_path: Path, size: int) -> None:
    data = os.urandom(size)
    f = tmp_path / "f.bin"
    f.write_bytes(data)
    sends = parts_of(size)
    hashed, got, _ = run(f, sends)
    assert hashed == (hashlib.sha256(data).hexdigest(), size)
    assert got == [data[o : o + n] for o, n in sends]


def test_senders_slower_than_the_hash_read_what_it_gave_up(tmp_path: Path) -> None:
    data = os.urandom(12 * PART)
    f = tmp_path / "slow.bin"
    f.write_bytes(data)
    sends = parts_of(len(data))
    hashed, got, given_up = run(f, sends, pause=0.01)
    assert given_up > 0
    assert hashed == (hashlib.sha256(data).hexdigest(), len(data))
    assert got == [data[o : o + n] for o, n in sends]


def test_chunks_no_one_sends_do_not_hold_the_hash(tmp_path: Path) -> None:
    """Parts stored before (a resumed upload) are hashed, not sent."""
    data = os.urandom(12 * PART)
    f = tmp_path / "resumed.bin"
    f.write_bytes(data)
    sends = parts_of(len(data))[-1:]
    hashed, got, given_up = run(f, sends)
    assert given_up == 0
    assert hashed[0] == hashlib.sha256(data).hexdigest()
    assert got == [data[-PART:]]


def test_once_sending_is_over_the_hash_reads_on(tmp_path: Path) -> None:
    data = os.urandom(12 * PART)
    f = tmp_path / "stopped.bin"
    f.write_bytes(data)
    reads = SharedReads(f, CHUNK, parts_of(len(data)))
    try:
        reads.done_sending()
        assert reads.hash() == (hashlib.sha256(data).hexdigest(), len(data))
        assert b"".join(bytes(v) for v in reads.part(PART, PART)) == data[PART : 2 * PART]
    finally:
        reads.close()


def test_a_file_shorter_than_its_parts_is_refused(tmp_path: Path) -> None:
    f = tmp_path / "short.bin"
    f.write_bytes(os.urandom(PART + 10))
    reads = SharedReads(f, CHUNK, [(0, 2 * PART)])
    try:
        with pytest.raises(InvalidInputError, match="changed while"):
            for _ in reads.part(0, 2 * PART):
                pass
        assert reads.hash()[1] == PART + 10
    finally:
        reads.close()


@pytest.mark.parametrize("refused", ["missing", "EINVAL"])
def test_without_o_direct_chunks_are_read_through_the_page_cache(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, refused: str
) -> None:
    """No O_DIRECT on this system, or a filesystem that refuses its reads."""
    if refused == "missing":
        monkeypatch.delattr(os, "O_DIRECT", raising=False)
    else:
        real = os.preadv

        def preadv(fd: int, buffers: list, offset: int, *flags: int) -> int:
            if fcntl.fcntl(fd, fcntl.F_GETFL) & os.O_DIRECT:
                raise OSError(errno.EINVAL, "Invalid argument")
            return real(fd, buffers, offset, *flags)

        monkeypatch.setattr(os, "preadv", preadv)
    data = os.urandom(5 * PART + 3)
    f = tmp_path / "plain.bin"
    f.write_bytes(data)
    with open(f, "rb") as out:  # out of the page cache, so that O_DIRECT would be used
        os.fsync(out.fileno())
        os.posix_fadvise(out.fileno(), 0, 0, os.POSIX_FADV_DONTNEED)
    reads = SharedReads(f, CHUNK, parts_of(len(data)))
    try:
        assert reads.hash() == (hashlib.sha256(data).hexdigest(), len(data))
        assert not reads.file.use_direct
    finally:
        reads.close()


def test_the_chunk_divides_every_part() -> None:
    mib = 1 << 20
    assert chunk_for([{"offset": 0}]) == shared_reads.CHUNK
    assert chunk_for([{"offset": o * 64 * mib} for o in range(3)]) == 4 * mib
    assert chunk_for([{"offset": o * 5 * mib} for o in range(3)]) == mib
    assert chunk_for([{"offset": 0}, {"offset": 5_000_000}]) is None


def test_a_fifo_is_not_read(tmp_path: Path) -> None:
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    with pytest.raises(InvalidInputError, match="not a regular file"):
        SharedReads(fifo, CHUNK, [])
