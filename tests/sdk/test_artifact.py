"""Artifact drafts: what the manifest is made of at log time, embedded and over HTTP (``mb``):
paths that are both a file and a folder, later adds replacing references, directories whose
links change after ``add_dir``, files removed after they were added, and logging while
garbage collection deletes the same blob."""

from __future__ import annotations

import hashlib
import os
import threading
import time
from pathlib import Path
from typing import Any

import pytest

import modelbay
from modelbay import Api, Artifact
from modelbay.blobs.local import LocalBlobStore
from modelbay.contract import operations as ops
from modelbay.contract import requests as rq
from modelbay.sdk import artifact as artifact_module
from modelbay.sdk.transport import connect
from modelbay.services.artifacts import check_manifest


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def stored(*paths: Path) -> list[bool]:
    """Whether the server holds the bytes of each file."""
    missing = set(connect().call(ops.MISSING_BLOBS, rq.Digests(digests=[sha(p) for p in paths])).missing)
    return [sha(p) not in missing for p in paths]


# -- a path that is both a file and a folder ------------------------------------------------


def test_a_file_that_is_also_a_folder_is_refused_before_anything_is_sent(
    mb: Any, tmp_path: Path, uniq: str
) -> None:
    f1 = write(tmp_path / "f1", f"one {uniq}")
    f2 = write(tmp_path / "f2", f"two {uniq}")
    run = modelbay.init(project=f"p{uniq}")
    a = Artifact("clash", "model")
    a.add_file(f1, name="m")
    a.add_file(f2, name="m/inner")
    with pytest.raises(modelbay.InvalidPathError, match="'m'.*'m/inner'") as caught:
        run.log_artifact(a)
    assert caught.value.details == {"path": "m/inner", "file": "m"}
    assert stored(f1, f2) == [False, False]
    # A reference below a file is the same clash, and so is a file below a reference.
    b = Artifact("clash-ref", "model")
    b.add_file(f1, name="m")
    b.add_reference(f2.resolve().as_uri(), name="m/inner")
    with pytest.raises(modelbay.InvalidPathError, match="'m'.*'m/inner'"):
        run.log_artifact(b)
    c = Artifact("clash-ref2", "model")
    c.add_reference(f1.resolve().as_uri(), name="a/b")
    c.add_file(f2, name="a/b/c/d")
    with pytest.raises(modelbay.InvalidPathError, match="'a/b'.*'a/b/c/d'"):
        run.log_artifact(c)
    assert stored(f1, f2) == [False, False]
    with pytest.raises(modelbay.NotFoundError):
        Api().artifact(f"p{uniq}/clash:latest")
    run.finish()


def test_the_server_refuses_a_manifest_whose_file_is_also_a_folder(mb: Any, uniq: str) -> None:
    blob = {"sha256": "0" * 64, "size": 1}
    files = [{"path": "x"}, {"path": "m/inner/deep"}, {"path": "m/inner"}]
    with pytest.raises(modelbay.InvalidPathError, match="'m/inner'.*'m/inner/deep'") as caught:
        connect().call(
            ops.COMMIT_VERSION,
            rq.VersionCommit(
                project=f"p{uniq}",
                name="clash",
                type="model",
                files=[rq.FileEntry(**f, **blob) for f in files],
            ),
        )
    assert caught.value.details == {"path": "m/inner/deep", "file": "m/inner"}
    ref = {"path": "m/inner", "sha256": "0" * 64, "size": 1, "ref": "file:///tmp/x"}
    with pytest.raises(modelbay.InvalidPathError):
        check_manifest([{"path": "m", **blob}, ref])


def test_the_file_and_folder_check_finds_one_clash_in_a_large_manifest() -> None:
    blob = {"sha256": "0" * 64, "size": 1}
    entries = [{"path": f"d{i % 100}/sub{i % 7}/f{i}.bin", **blob} for i in range(100_000)]
    assert len(check_manifest(entries)) == 100_000
    with pytest.raises(modelbay.InvalidPathError, match="'d5/sub3'"):
        check_manifest([*entries, {"path": "d5/sub3", **blob}])


# -- a later add replaces a reference of the same name --------------------------------------


def test_a_local_file_added_after_a_reference_of_the_same_name_wins(
    mb: Any, tmp_path: Path, uniq: str
) -> None:
    remote = write(tmp_path / "remote.txt", "remote")
    local = write(tmp_path / "local.txt", f"local {uniq}")
    write(tmp_path / "d" / "sub" / "x", f"from dir {uniq}")
    run = modelbay.init(project=f"p{uniq}")
    a = Artifact("later-wins", "dataset")
    a.add_reference(remote.resolve().as_uri(), name="by_file.txt")
    a.add_file(local, name="by_file.txt")
    a.add_reference(remote.resolve().as_uri(), name="sub/x")
    a.add_dir(tmp_path / "d")
    a.add_reference(remote.resolve().as_uri(), name="new.txt")
    with a.new_file("new.txt", mode="w") as f:
        f.write(f"new {uniq}")
    a.add_reference(remote.resolve().as_uri(), name="still_ref.txt")
    logged = run.log_artifact(a)
    run.finish()
    assert {f.path: f.ref for f in logged.files()} == {
        "by_file.txt": None,
        "sub/x": None,
        "new.txt": None,
        "still_ref.txt": remote.resolve().as_uri(),
    }
    out = Path(logged.download(tmp_path / "out"))
    assert (out / "by_file.txt").read_text() == f"local {uniq}"
    assert (out / "sub" / "x").read_text() == f"from dir {uniq}"
    assert (out / "new.txt").read_text() == f"new {uniq}"


# -- directories whose links change after add_dir -------------------------------------------


def test_a_link_repointed_out_of_the_directory_after_add_dir_is_refused_at_log_time(
    mb: Any, tmp_path: Path, uniq: str
) -> None:
    secret = write(tmp_path / "secret.txt", f"secret {uniq}")
    d = tmp_path / "d"
    write(d / "real.txt", f"real {uniq}")
    os.symlink("real.txt", d / "link.txt")
    run = modelbay.init(project=f"p{uniq}")
    a = Artifact("relinked", "model")
    a.add_dir(d)  # the link stays inside: accepted
    os.unlink(d / "link.txt")
    os.symlink(secret, d / "link.txt")
    with pytest.raises(modelbay.InvalidPathError, match="outside the directory"):
        run.log_artifact(a)
    assert stored(secret) == [False]
    run.finish()


def test_a_folder_swapped_for_a_link_out_after_add_dir_is_refused_at_log_time(
    mb: Any, tmp_path: Path, uniq: str
) -> None:
    outside = tmp_path / "outside"
    secret = write(outside / "x.txt", f"secret {uniq}")
    d = tmp_path / "d"
    write(d / "sub" / "x.txt", f"inside {uniq}")
    run = modelbay.init(project=f"p{uniq}")
    a = Artifact("swapped", "model")
    a.add_dir(d)
    os.rename(d / "sub", tmp_path / "old_sub")
    os.symlink(outside, d / "sub")  # d/sub/x.txt is no link itself, but now lands outside
    with pytest.raises(modelbay.InvalidPathError, match="outside the directory"):
        run.log_artifact(a)
    assert stored(secret) == [False]
    run.finish()


# -- files removed after they were added ----------------------------------------------------


def test_add_dir_skips_a_downloads_temporary_files_and_refuses_a_loop_of_links(
    mb: Any, tmp_path: Path, uniq: str
) -> None:
    folder = tmp_path / "fine-tuned"
    write(folder / "model.bin", f"weights {uniq}")
    write(folder / ".model.bin.be469b8dd617.part", "half of a killed download")
    write(folder / ".notes.part", "the user's own file")
    a = Artifact("tuned", "model")
    a.add_dir(folder)
    assert sorted(a._entries) == [".notes.part", "model.bin"]
    (folder / "loop").symlink_to(folder / "loop")
    with pytest.raises(modelbay.InvalidPathError, match="loop of links"):
        Artifact("looped", "model").add_dir(folder)


@pytest.mark.parametrize("how", ["add_file", "add_dir"])
def test_a_file_removed_after_it_was_added_is_an_input_error(
    mb: Any, tmp_path: Path, uniq: str, how: str
) -> None:
    gone = write(tmp_path / "d" / "gone.bin", f"gone {uniq}")
    write(tmp_path / "d" / "kept.bin", f"kept {uniq}")
    run = modelbay.init(project=f"p{uniq}")
    a = Artifact("removed", "model")
    if how == "add_file":
        a.add_file(gone)
    else:
        a.add_dir(tmp_path / "d")
    gone.unlink()
    with pytest.raises(modelbay.InvalidInputError, match="removed after it was added") as caught:
        run.log_artifact(a)
    assert str(gone) in caught.value.message
    assert caught.value.details == {"path": str(gone)}
    run.finish()


@pytest.mark.parametrize("how", ["add_file", "add_dir"])
def test_a_folder_replaced_by_a_file_after_add_is_an_input_error(
    mb: Any, tmp_path: Path, uniq: str, how: str
) -> None:
    inner = write(tmp_path / "d" / "sub" / "w.bin", f"w {uniq}")
    run = modelbay.init(project=f"p{uniq}")
    a = Artifact("swapped", "model")
    if how == "add_file":
        a.add_file(inner)
    else:
        a.add_dir(tmp_path / "d")
    inner.unlink()
    (tmp_path / "d" / "sub").rmdir()
    write(tmp_path / "d" / "sub", "now a file")
    with pytest.raises(modelbay.InvalidInputError, match="removed after it was added"):
        run.log_artifact(a)
    run.finish()


def test_a_fifo_swapped_in_after_add_file_is_refused_not_waited_on(
    mb: Any, tmp_path: Path, uniq: str
) -> None:
    f = write(tmp_path / "w.bin", f"w {uniq}")
    run = modelbay.init(project=f"p{uniq}")
    a = Artifact("fifo", "model")
    a.add_file(f)
    f.unlink()
    os.mkfifo(f)
    outcome: list[BaseException] = []

    def log() -> None:
        try:
            run.log_artifact(a)
        except BaseException as exc:  # noqa: BLE001 - handed to the test thread
            outcome.append(exc)

    t = threading.Thread(target=log, daemon=True)
    t.start()
    t.join(60)
    if t.is_alive():
        with open(f, "wb"):  # let the stuck open go, then fail the test
            pass
        pytest.fail("logging blocked on a FIFO")
    assert len(outcome) == 1 and isinstance(outcome[0], modelbay.InvalidInputError)
    assert "not a regular file" in str(outcome[0])
    run.finish()


def test_paths_added_relative_to_the_working_directory_are_kept_after_a_chdir(
    mb: Any, tmp_path: Path, uniq: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    for where in ("here", "elsewhere"):
        write(tmp_path / where / "rel" / "a.bin", f"{where} {uniq}")
        write(tmp_path / where / "one.bin", f"one {where} {uniq}")
    monkeypatch.chdir(tmp_path / "here")
    run = modelbay.init(project=f"p{uniq}")
    a = Artifact("relative", "model")
    a.add_dir("rel")
    a.add_file("one.bin")
    monkeypatch.chdir(tmp_path / "elsewhere")
    logged = run.log_artifact(a)
    run.finish()
    out = Path(logged.download(tmp_path / "out"))
    assert (out / "a.bin").read_text() == f"here {uniq}"
    assert (out / "one.bin").read_text() == f"one here {uniq}"


# -- logging while garbage collection deletes the same blob ---------------------------------


@pytest.fixture
def slow_gc(monkeypatch: pytest.MonkeyPatch) -> threading.Event:
    """The disk store's delete waits (as a large delete batch on a big store would); the
    event is set once garbage collection has started deleting."""
    deleting = threading.Event()
    delete = LocalBlobStore.delete

    def slow_delete(self: LocalBlobStore, digest: str, key: str | None = None) -> None:
        deleting.set()
        time.sleep(1.0)
        delete(self, digest, key)

    monkeypatch.setattr(LocalBlobStore, "delete", slow_delete)
    return deleting


@pytest.mark.parametrize("mb", ["embedded"], indirect=True)
def test_logging_while_gc_deletes_the_same_blob_waits_and_sends_it_again(
    mb: Any, tmp_path: Path, uniq: str, slow_gc: threading.Event
) -> None:
    weights = write(tmp_path / "w.bin", f"weights {uniq}" * 1000)
    run = modelbay.init(project=f"p{uniq}")
    first = Artifact("m", "model")
    first.add_file(weights)
    run.log_artifact(first).delete()
    api = Api()
    result: dict[str, Any] = {}
    gc = threading.Thread(target=lambda: result.update(api.gc(grace_seconds=0)))
    gc.start()
    try:
        assert slow_gc.wait(10)  # the blob is marked as being deleted now
        again = Artifact("m", "model")
        again.add_file(weights)
        logged = run.log_artifact(again)
    finally:
        gc.join()
    assert result["removed"] == 1  # gc did take the blob from under this log
    assert logged.version == "v1"
    out = Path(logged.download(tmp_path / "out"))
    assert (out / "w.bin").read_bytes() == weights.read_bytes()
    run.finish()


@pytest.mark.parametrize("mb", ["embedded"], indirect=True)
def test_logging_gives_up_when_gc_holds_the_blob_too_long(
    mb: Any, tmp_path: Path, uniq: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    weights = write(tmp_path / "w.bin", f"weights {uniq}" * 1000)
    release = threading.Event()
    deleting = threading.Event()
    delete = LocalBlobStore.delete

    def stuck_delete(self: LocalBlobStore, digest: str, key: str | None = None) -> None:
        deleting.set()
        release.wait(30)
        delete(self, digest, key)

    monkeypatch.setattr(LocalBlobStore, "delete", stuck_delete)
    monkeypatch.setattr(artifact_module, "GC_RETRY_DELAYS", (0.01, 0.01, 0.01))
    run = modelbay.init(project=f"p{uniq}")
    first = Artifact("m", "model")
    first.add_file(weights)
    run.log_artifact(first).delete()
    gc = threading.Thread(target=lambda: Api().gc(grace_seconds=0))
    gc.start()
    try:
        assert deleting.wait(10)
        again = Artifact("m", "model")
        again.add_file(weights)
        with pytest.raises(modelbay.ConflictError, match="garbage-collected") as caught:
            run.log_artifact(again)
        assert caught.value.details["sha256"] == sha(weights)
    finally:
        release.set()
        gc.join()
    run.finish()
