"""References at their edges, against real things: local files (FIFOs, links), an HTTP server
on loopback started here, and SeaweedFS for S3 (the shared ``seaweed_s3`` fixture).

* S3 keys are taken verbatim (``?``, ``#``, spaces, non-ASCII), as the AWS CLI reads them;
* every failure is one of modelbay's errors naming the URI, with the client's error as cause;
* a ``file://`` folder counts regular files only (a FIFO is skipped, never opened);
* http(s) with ``checksum=True`` is tracked by ETag and size from a HEAD (sha256 of the body
  when there is no strong ETag), with ``checksum=False`` by nothing; a download checks
  everything recorded, and asks for unencoded bytes;
* ``file:`` URIs must name an absolute local path;
* a ``file://`` folder or an ``s3://`` prefix holds at most ``max_objects`` files (as in W&B,
  exactly that many pass), and is walked or listed no further than one more;
* the S3 client is made anew when a setting it reads once changes (endpoint, files, CA).
"""

from __future__ import annotations

import contextlib
import gzip
import http.server
import os
import socket
import threading
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
import typer
from botocore.exceptions import ClientError
from support import seaweed
from support.seaweed import SeaweedS3
from typer.testing import CliRunner

import modelbay
from modelbay import Artifact
from modelbay.cli.common import fail_on_error
from modelbay.cli.main import app
from modelbay.errors import (
    DigestMismatchError,
    InvalidInputError,
    InvalidPathError,
    NotFoundError,
    PermissionDeniedError,
    TransportError,
)

seaweed_s3 = seaweed.seaweed_s3  # the shared fixture: one SeaweedFS per test process


def log(artifact: Artifact, uniq: str) -> Artifact:
    run = modelbay.init(project=f"refs{uniq}")
    logged = run.log_artifact(artifact)
    run.finish()
    return logged


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def in_thread(fn: Callable[[], Any], seconds: float = 20) -> Any:
    """Run ``fn`` in a thread; fail (instead of hanging the suite) if it has not returned."""
    box: dict[str, Any] = {}

    def target() -> None:
        try:
            box["value"] = fn()
        except BaseException as exc:  # handed back to the test
            box["error"] = exc

    t = threading.Thread(target=target, daemon=True)
    t.start()
    t.join(seconds)
    if t.is_alive():
        return "hung"
    if "error" in box:
        raise box["error"]
    return box["value"]


# -- a real HTTP server on loopback -------------------------------------------------------------


@dataclass
class Page:
    body: bytes
    status: int = 200
    etag: str | None = None
    #: "accepted": gzip when the client accepts it; "always": gzip whatever it asks.
    gzip: str | None = None


@dataclass
class Site:
    """What the server answers (path -> page; others 404) and every request it saw."""

    pages: dict[str, Page] = field(default_factory=dict)
    requests: list[tuple[str, str, str]] = field(default_factory=list)  # method, path, A-E
    port: int = 0
    httpd: http.server.ThreadingHTTPServer | None = None

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def stop(self) -> None:
        if self.httpd is not None:
            self.httpd.shutdown()
            self.httpd.server_close()
            self.httpd = None


def _handler(site: Site) -> type[http.server.BaseHTTPRequestHandler]:
    class Handler(http.server.BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:
            pass

        def answer(self, head: bool) -> None:
            accept = self.headers.get("Accept-Encoding", "")
            site.requests.append((self.command, self.path, accept))
            page = site.pages.get(self.path, Page(b"", status=404))
            body = page.body
            self.send_response(page.status)
            if page.gzip == "always" or (page.gzip == "accepted" and "gzip" in accept):
                body = gzip.compress(body)
                self.send_header("Content-Encoding", "gzip")
            if page.etag:
                self.send_header("ETag", page.etag)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if not head:
                self.wfile.write(body)

        def do_GET(self) -> None:
            self.answer(head=False)

        def do_HEAD(self) -> None:
            self.answer(head=True)

    return Handler


@pytest.fixture
def site() -> Iterator[Site]:
    s = Site()
    s.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _handler(s))
    s.port = s.httpd.server_port
    threading.Thread(target=s.httpd.serve_forever, daemon=True).start()
    try:
        yield s
    finally:
        s.stop()


# -- s3:// keys, verbatim ----------------------------------------------------------------------


@dataclass
class Bucket:
    name: str
    client: Any

    def put(self, key: str, body: bytes) -> Any:
        return self.client.put_object(Bucket=self.name, Key=key, Body=body)


@pytest.fixture
def bucket(mb: Any, seaweed_s3: SeaweedS3, monkeypatch: pytest.MonkeyPatch) -> Bucket:
    """A fresh bucket; the SDK reads references from SeaweedFS (``mb`` is set up first)."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", seaweed_s3.access_key)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", seaweed_s3.secret_key)
    monkeypatch.setenv("AWS_DEFAULT_REGION", seaweed_s3.region)
    monkeypatch.setenv("MODELBAY_S3_ENDPOINT_URL", seaweed_s3.endpoint_url)
    name = seaweed_s3.create_bucket("refs-" + uuid.uuid4().hex[:10])
    return Bucket(name, seaweed_s3.client())


WEIRD = "we ird/ü k?x=1#h.txt"


def test_s3_keys_with_query_and_fragment_characters_are_taken_verbatim(
    bucket: Bucket, uniq: str, tmp_path: Path
) -> None:
    bucket.put("shard/part#1.txt", b"one")
    bucket.put("shard/part.txt", b"two")
    bucket.put("shard/q?x=1.txt", b"three")
    bucket.put(WEIRD, b"weird")
    bucket.put("pct%20key.txt", b"percent")
    a = Artifact("s3keys", "dataset")
    a.add_reference(f"s3://{bucket.name}/shard/")
    a.add_reference(f"s3://{bucket.name}/{WEIRD}", name="weird.txt")
    a.add_reference(f"s3://{bucket.name}/pct%20key.txt", name="pct.txt")
    logged = log(a, uniq)
    refs = {f.path: f.ref for f in logged.files()}
    assert refs["part#1.txt"] == f"s3://{bucket.name}/shard/part#1.txt"
    assert refs["weird.txt"] == f"s3://{bucket.name}/{WEIRD}"
    out = Path(logged.download(tmp_path / "out"))
    assert (out / "part#1.txt").read_bytes() == b"one"
    assert (out / "part.txt").read_bytes() == b"two"
    assert (out / "q?x=1.txt").read_bytes() == b"three"
    assert (out / "weird.txt").read_bytes() == b"weird"
    assert (out / "pct.txt").read_bytes() == b"percent"


def test_a_versioned_s3_object_is_fetched_at_the_version_logged(
    bucket: Bucket, uniq: str, tmp_path: Path
) -> None:
    """References stored as ``s3://bucket/key?versionId=...`` (as before) keep their version,
    also for a key holding ``?`` of its own."""
    bucket.client.put_bucket_versioning(
        Bucket=bucket.name, VersioningConfiguration={"Status": "Enabled"}
    )
    first = bucket.put("model?x.bin", b"first")
    a = Artifact("s3versioned", "model")
    a.add_reference(f"s3://{bucket.name}/model?x.bin")
    logged = log(a, uniq)
    (f,) = logged.files()
    assert f.ref == f"s3://{bucket.name}/model?x.bin?versionId={first['VersionId']}"
    bucket.put("model?x.bin", b"second, longer")
    out = Path(logged.download(tmp_path / "out"))
    assert (out / "model?x.bin").read_bytes() == b"first"


def test_s3_failures_are_typed_and_name_the_uri(
    bucket: Bucket, uniq: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with pytest.raises(NotFoundError, match="no-such-bucket-") as missing_bucket:
        Artifact("x", "dataset").add_reference(f"s3://no-such-bucket-{uniq}/x")
    assert isinstance(missing_bucket.value.__cause__, ClientError)
    with pytest.raises(NotFoundError, match="nothing/here"):
        Artifact("x", "dataset").add_reference(f"s3://{bucket.name}/nothing/here")

    bucket.put("gone.bin", b"soon gone")
    a = Artifact("s3gone", "dataset")
    a.add_reference(f"s3://{bucket.name}/gone.bin")
    logged = log(a, uniq)
    bucket.client.delete_object(Bucket=bucket.name, Key="gone.bin")
    with pytest.raises(NotFoundError, match=f"s3://{bucket.name}/gone.bin") as gone:
        logged.download(tmp_path / "out")
    assert isinstance(gone.value.__cause__, ClientError)

    monkeypatch.setenv("MODELBAY_S3_ENDPOINT_URL", f"http://127.0.0.1:{closed_port()}")
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")
    with pytest.raises(TransportError, match=f"s3://{bucket.name}/x"):
        Artifact("x", "dataset").add_reference(f"s3://{bucket.name}/x")


# -- http(s):// ---------------------------------------------------------------------------------


def test_http_is_tracked_by_etag_and_size_from_a_head(
    mb: Any, site: Site, uniq: str, tmp_path: Path
) -> None:
    site.pages["/w.bin"] = Page(b"weights v1", etag='"e1"')
    a = Artifact("httpetag", "model")
    a.add_reference(site.url("/w.bin"))
    assert [m for m, _, _ in site.requests] == ["HEAD"]  # the body is not read to log it
    logged = log(a, uniq)
    (f,) = logged.files()
    assert (f.etag, f.size) == ('"e1"', len(b"weights v1"))
    assert Path(logged.download(tmp_path / "ok"), "w.bin").read_bytes() == b"weights v1"

    site.pages["/w.bin"] = Page(b"weights v2, another size", etag='"e1"')
    with pytest.raises(DigestMismatchError, match="bytes"):
        logged.download(tmp_path / "same-etag")
    assert not (tmp_path / "same-etag" / "w.bin").exists()
    site.pages["/w.bin"] = Page(b"weights v1", etag='"e2"')
    with pytest.raises(DigestMismatchError, match="ETag"):
        logged.download(tmp_path / "new-etag")


@pytest.mark.parametrize("etag", [None, 'W/"weak"'])
def test_http_without_a_strong_etag_is_tracked_by_sha256(
    mb: Any, site: Site, uniq: str, tmp_path: Path, etag: str | None
) -> None:
    site.pages["/d.csv"] = Page(b"a,b\n1,2\n", etag=etag)
    a = Artifact("httpsha", "dataset")
    a.add_reference(site.url("/d.csv"))
    logged = log(a, uniq)
    (f,) = logged.files()
    assert f.etag is None and f.size == 8
    site.pages["/d.csv"] = Page(b"a,b\n1,3\n", etag=etag)  # same size, same ETag
    with pytest.raises(DigestMismatchError, match="sha256"):
        logged.download(tmp_path / "out")


def test_http_with_checksum_false_records_the_uri_only(
    mb: Any, site: Site, uniq: str, tmp_path: Path
) -> None:
    a = Artifact("httpnock", "dataset")
    a.add_reference(site.url("/later.txt"), checksum=False)
    assert site.requests == []  # W&B's meaning: no request, no integrity tracking
    logged = log(a, uniq)
    site.pages["/later.txt"] = Page(b"whatever is there now", etag='"x"')
    out = Path(logged.download(tmp_path / "out"))
    assert (out / "later.txt").read_bytes() == b"whatever is there now"


@pytest.mark.parametrize("mode", ["accepted", "always"])
def test_http_sizes_are_of_the_unencoded_bytes(
    mb: Any, site: Site, uniq: str, tmp_path: Path, mode: str
) -> None:
    body = b"compressible " * 200
    site.pages["/big.txt"] = Page(body, etag='"z"', gzip=mode)
    a = Artifact("httpgzip", "dataset")
    a.add_reference(site.url("/big.txt"))
    logged = log(a, uniq)
    assert [f.size for f in logged.files()] == [len(body)]
    assert Path(logged.download(tmp_path / "out"), "big.txt").read_bytes() == body
    assert {accept for _, _, accept in site.requests} == {"identity"}


@pytest.mark.parametrize(
    ("status", "error"),
    [
        (404, NotFoundError),
        (410, NotFoundError),
        (403, PermissionDeniedError),
        (503, TransportError),
    ],
)
def test_http_failures_are_typed_and_name_the_uri(
    mb: Any, site: Site, uniq: str, tmp_path: Path, status: int, error: type[Exception]
) -> None:
    site.pages["/f.bin"] = Page(b"bytes", etag='"1"')
    site.pages["/g.bin"] = Page(b"bytes")
    a = Artifact("httperr", "dataset")
    a.add_reference(site.url("/f.bin"))
    a.add_reference(site.url("/g.bin"))
    logged = log(a, uniq)
    for path in ("/f.bin", "/g.bin", "/h.bin"):
        site.pages[path] = Page(b"", status=status)
    with pytest.raises(error, match=site.url("/")) as raised:
        logged.download(tmp_path / "out")
    assert isinstance(raised.value.__cause__, httpx.HTTPStatusError)
    with pytest.raises(error, match=site.url("/h.bin")):
        Artifact("x", "dataset").add_reference(site.url("/h.bin"))  # same answer at log time


def test_http_server_down_is_a_transport_error(
    mb: Any, site: Site, uniq: str, tmp_path: Path
) -> None:
    site.pages["/f.bin"] = Page(b"bytes", etag='"1"')
    a = Artifact("httpdown", "dataset")
    a.add_reference(site.url("/f.bin"))
    logged = log(a, uniq)
    site.stop()
    with pytest.raises(TransportError, match=site.url("/f.bin")) as raised:
        logged.download(tmp_path / "out")
    assert isinstance(raised.value.__cause__, httpx.ConnectError)


# -- file:// ------------------------------------------------------------------------------------


def test_a_file_folder_counts_regular_files_only(mb: Any, uniq: str, tmp_path: Path) -> None:
    """Like ``add_dir``: FIFOs and dangling links are skipped, links inside are followed."""
    folder = tmp_path / "shared"
    (folder / "sub").mkdir(parents=True)
    (folder / "a.txt").write_text("a")
    (folder / "sub" / "b.txt").write_text("b")
    os.mkfifo(folder / "pipe")
    (folder / "dangling").symlink_to(folder / "nothing")
    (folder / "alias.txt").symlink_to(folder / "a.txt")
    a = Artifact("fifo", "dataset")
    result = in_thread(lambda: a.add_reference(folder.as_uri()))
    if result == "hung":
        os.close(os.open(folder / "pipe", os.O_WRONLY | os.O_NONBLOCK))  # let it go
        pytest.fail("add_reference hung on a FIFO")
    logged = log(a, uniq)
    assert sorted(f.path for f in logged.files()) == ["a.txt", "alias.txt", "sub/b.txt"]


def test_a_file_folder_reference_follows_links_wherever_they_point(
    mb: Any, uniq: str, tmp_path: Path
) -> None:
    """A reference sends no bytes: a link out of the folder (a dataset folder linking into
    another mount) is recorded where it really points, as before."""
    (tmp_path / "outside.txt").write_text("from another mount")
    folder = tmp_path / "shared"
    folder.mkdir()
    (folder / "out").symlink_to(tmp_path / "outside.txt")
    a = Artifact("linkedout", "dataset")
    a.add_reference(folder.as_uri())
    (f,) = log(a, uniq).files()
    assert (f.path, f.ref) == ("out", (tmp_path / "outside.txt").resolve().as_uri())


@pytest.mark.parametrize(
    ("recorded", "size", "served"),
    [('W/"n1"', 54, '"n1"'), ('"c1"', 0, '"c1"')],
    ids=["weak-etag-compressed-size", "chunked-no-size"],
)
def test_http_entries_logged_before_sizes_were_checked_still_download(
    site: Site, tmp_path: Path, recorded: str, size: int, served: str
) -> None:
    """What checksum=False recorded before: the ETag and length of a HEAD that accepted gzip
    (a weak ETag, the compressed length), or no length at all for a chunked answer."""
    from modelbay.sdk.references import _synthetic, fetch_reference

    body = b"x" * 2600
    site.pages["/old.bin"] = Page(body, etag=served)
    uri = site.url("/old.bin")
    entry = {"path": "old.bin", "sha256": _synthetic(uri, recorded), "size": size}
    entry.update({"ref": uri, "etag": recorded})
    fetch_reference(entry, tmp_path / "old.bin")
    assert (tmp_path / "old.bin").read_bytes() == body
    site.pages["/old.bin"] = Page(body, etag='"n2"')  # changed since: still refused
    with pytest.raises(DigestMismatchError, match="ETag"):
        fetch_reference(entry, tmp_path / "again.bin")


def test_a_fifo_in_place_of_a_referenced_file_does_not_hang_the_download(
    mb: Any, uniq: str, tmp_path: Path
) -> None:
    ref = tmp_path / "labels.csv"
    ref.write_text("a,b\n")
    a = Artifact("fifodl", "dataset")
    a.add_reference(ref.as_uri())
    logged = log(a, uniq)
    ref.unlink()
    os.mkfifo(ref)
    result = in_thread(lambda: pytest.raises(NotFoundError, logged.download, tmp_path / "out"))
    if result == "hung":
        os.close(os.open(ref, os.O_WRONLY | os.O_NONBLOCK))
        pytest.fail("download hung on a FIFO")
    assert "no longer a regular file" in str(result.value)


@pytest.mark.parametrize(
    "uri",
    [
        "file://",
        "file:",
        "file:shared/labels.csv",
        "file://shared/labels.csv",
        "file://evilhost/etc/hostname",
        "file:///tmp/q?x.txt",
        "file:///tmp/h#x.txt",
        "file:///tmp/nul%00byte",
    ],
)
def test_file_uris_must_name_an_absolute_local_path(
    uri: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "shared").mkdir()
    (tmp_path / "shared" / "labels.csv").write_text("a,b\n")
    monkeypatch.chdir(tmp_path)
    with pytest.raises(InvalidInputError):
        Artifact("x", "dataset").add_reference(uri)


def test_file_uris_on_localhost_and_percent_encoded_are_read(tmp_path: Path) -> None:
    target = tmp_path / "sp ace" / "q?ü#.csv"
    target.parent.mkdir()
    target.write_text("a,b\n")
    a = Artifact("x", "dataset")
    a.add_reference(target.as_uri(), name="encoded.csv")
    a.add_reference(f"file://localhost{tmp_path}/sp%20ace/q%3F%C3%BC%23.csv", name="local.csv")
    refs = {e["ref"] for e in a._references.values()}
    assert refs == {target.as_uri()}


# -- the CLI ------------------------------------------------------------------------------------


def test_the_cli_prints_one_line_for_a_reference_that_cannot_be_fetched(
    mb: Any, site: Site, uniq: str, tmp_path: Path
) -> None:
    site.pages["/f.bin"] = Page(b"bytes", etag='"1"')
    a = Artifact("clidown", "dataset")
    a.add_reference(site.url("/f.bin"))
    logged = log(a, uniq)
    site.stop()
    result = CliRunner().invoke(
        app, ["download", logged.qualified_name, "--root", str(tmp_path / "o")]
    )
    assert result.exit_code == 1, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    assert site.url("/f.bin") in lines[0] and "[transport]" in lines[0]


def test_fail_on_error_prints_one_line_for_an_http_client_error(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with pytest.raises(typer.Exit) as exited, fail_on_error():
        httpx.get(f"http://127.0.0.1:{closed_port()}/", timeout=5)
    assert exited.value.exit_code == 1
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ConnectError"), lines


def test_fail_on_error_lets_a_bug_show_its_traceback() -> None:
    with pytest.raises(KeyError), fail_on_error():
        {}["missing"]


def test_a_symlink_loop_in_a_file_folder_is_an_invalid_path(tmp_path: Path) -> None:
    folder = tmp_path / "shared"
    folder.mkdir()
    (folder / "a.txt").write_text("a")
    (folder / "loop").symlink_to(folder / "loop")
    with pytest.raises(InvalidPathError, match="loop"):
        Artifact("x", "dataset").add_reference(folder.as_uri())


# -- max_objects --------------------------------------------------------------------------------


def a_tree(root: Path, dirs: int, files_each: int) -> Path:
    for d in range(dirs):
        (root / f"d{d:02}").mkdir(parents=True)
        for f in range(files_each):
            (root / f"d{d:02}" / f"{f}.txt").write_text(f"{d}/{f}")
    return root


def test_a_file_folder_holds_at_most_max_objects_files(mb: Any, uniq: str, tmp_path: Path) -> None:
    """As in W&B: exactly ``max_objects`` files pass, one more is refused with the bound to
    raise, and the artifact keeps what it had (a reference the refused one would replace)."""
    folder = a_tree(tmp_path / "shards", dirs=2, files_each=3)
    a = Artifact("bounded", "dataset")
    a.add_reference(folder.as_uri(), max_objects=6)
    assert len(log(a, uniq).files()) == 6

    kept = tmp_path / "kept.txt"
    kept.write_text("kept")
    b = Artifact("refused", "dataset")
    b.add_file(kept)
    b.add_reference(kept.as_uri(), name="shards/d00/0.txt")
    with pytest.raises(InvalidInputError, match="larger max_objects") as refused:
        b.add_reference(folder.as_uri(), name="shards", max_objects=5)
    assert "found 6 files" in str(refused.value) and "max_objects=5" in str(refused.value)
    assert refused.value.details == {"uri": folder.as_uri(), "found": 6, "max_objects": 5}
    refs = {f.path: f.ref for f in log(b, uniq).files()}
    assert refs.keys() == {"kept.txt", "shards/d00/0.txt"}
    assert refs["shards/d00/0.txt"] == kept.resolve().as_uri()


def test_a_file_folder_is_walked_no_further_than_the_first_file_too_many(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What bounds ``add_reference("file:///")``: the folders listed, counted through the real
    ``os.scandir``, stop where the files do."""
    folder = a_tree(tmp_path / "tree", dirs=40, files_each=2)
    listed: list[str] = []
    scandir = os.scandir

    def counted(path: Any) -> Any:
        listed.append(os.fspath(path))
        return scandir(path)

    monkeypatch.setattr(os, "scandir", counted)
    with pytest.raises(InvalidInputError, match="found 4 files"):
        Artifact("x", "dataset").add_reference(folder.as_uri(), max_objects=3)
    assert len(listed) <= 3  # the folder, and the two subfolders holding four files
    listed.clear()
    Artifact("x", "dataset").add_reference(folder.as_uri(), max_objects=80)
    assert len(listed) == 41  # what walking them all takes


def test_an_s3_prefix_holds_at_most_max_objects_and_is_listed_no_further(
    bucket: Bucket, uniq: str
) -> None:
    """No request asks for more keys than ``max_objects`` and one (W&B's ``.limit()`` asked for
    ``max_objects`` and so never saw one too many); a folder marker is not a file."""
    from modelbay.sdk.references import _s3

    for i in range(7):
        bucket.put(f"many/{i}.txt", b"x")
    bucket.put("many/", b"")  # last: SeaweedFS 4 hangs a write below a fresh folder marker
    asked: list[int] = []
    listed: list[int] = []

    def before(params: dict[str, Any], **_: Any) -> None:
        asked.append(params["MaxKeys"])

    def after(parsed: dict[str, Any], **_: Any) -> None:
        listed.append(len(parsed.get("Contents", [])))

    events = _s3().meta.events
    events.register("before-parameter-build.s3.ListObjectsV2", before)
    events.register("after-call.s3.ListObjectsV2", after)
    try:
        a = Artifact("s3bounded", "dataset")
        a.add_reference(f"s3://{bucket.name}/many/", max_objects=7)
        assert (asked, listed) == ([8], [8])
        asked.clear()
        listed.clear()
        with pytest.raises(InvalidInputError, match="found 4 objects") as refused:
            a.add_reference(f"s3://{bucket.name}/many", name="again", max_objects=3)
        assert (asked, listed) == ([4, 1], [4, 1])  # the marker and three; then the fourth
        assert refused.value.details["uri"] == f"s3://{bucket.name}/many/"
    finally:
        events.unregister("before-parameter-build.s3.ListObjectsV2", before)
        events.unregister("after-call.s3.ListObjectsV2", after)
    assert sorted(f.path for f in log(a, uniq).files()) == [f"{i}.txt" for i in range(7)]


@pytest.mark.parametrize("bad", [0, -1, True, False, 2.0, "3"])
def test_max_objects_must_be_a_positive_int(tmp_path: Path, bad: Any) -> None:
    one = tmp_path / "one.txt"
    one.write_text("1")
    a = Artifact("x", "dataset")
    # checksum=False: the http reference is recorded without a request
    for uri in (one.as_uri(), tmp_path.as_uri(), "https://example.invalid/one.txt"):
        with pytest.raises(InvalidInputError, match="max_objects must be a positive int"):
            a.add_reference(uri, checksum=False, max_objects=bad)
    assert a._references == {}
    a.add_reference(one.as_uri(), max_objects=1)  # one file, one object or one URL is one
    a.add_reference("https://example.invalid/two.txt", checksum=False, max_objects=1)
    assert sorted(a._references) == ["one.txt", "two.txt"]


def test_a_bound_beyond_what_islice_takes_is_no_bound(tmp_path: Path) -> None:
    """W&B takes any int; a huge one is not itertools' ValueError."""
    a_tree(tmp_path / "t", dirs=1, files_each=2)
    a = Artifact("x", "dataset")
    a.add_reference((tmp_path / "t").as_uri(), max_objects=10**30)
    assert sorted(a._references) == ["d00/0.txt", "d00/1.txt"]


def test_a_file_folders_name_may_end_in_a_slash_as_an_s3_prefixs_may(
    bucket: Bucket, tmp_path: Path
) -> None:
    folder = a_tree(tmp_path / "t", dirs=1, files_each=2)
    bucket.put("p/0.txt", b"0")
    a = Artifact("x", "dataset")
    a.add_reference(folder.as_uri(), name="shards/")
    a.add_reference(f"s3://{bucket.name}/p/", name="objects/")
    assert sorted(a._references) == ["objects/0.txt", "shards/d00/0.txt", "shards/d00/1.txt"]


def test_folder_markers_below_an_s3_prefix_are_not_files_and_not_counted(
    bucket: Bucket, uniq: str
) -> None:
    """The S3 console's "Create folder" leaves an empty object named ``sub/``: as in W&B it
    is skipped, not refused as a path with an empty segment, and max_objects counts files."""
    for key in ("m/a.txt", "m/sub/x.txt", "m/sub/y.txt"):
        bucket.put(key, key.encode())
    for marker in ("m/sub/", "m/empty/", "m/"):  # last: see the test above
        bucket.put(marker, b"")
    expected = ["a.txt", "sub/x.txt", "sub/y.txt"]
    # Pages of every size: SeaweedFS 4 ends the listing early after a full page whose last
    # key is a marker with files under it (m/ on a page of 1, m/sub/ on a page of 4).
    for bound in (3, 4, 5, 1000):
        a = Artifact("markers", "dataset")
        a.add_reference(f"s3://{bucket.name}/m/", max_objects=bound)
        assert sorted(a._references) == expected, bound
    with pytest.raises(InvalidInputError, match="found 3 objects"):
        a.add_reference(f"s3://{bucket.name}/m", max_objects=2)
    a.add_reference(f"s3://{bucket.name}", name="all", max_objects=3)
    logged = {f.path for f in log(a, uniq).files()}
    assert logged == {*expected, *(f"all/m/{p}" for p in expected)}


def test_keys_a_store_lists_outside_the_prefix_are_not_taken_as_files(bucket: Bucket) -> None:
    """SeaweedFS folds "//" in keys and lists ``m/a.txt`` for the prefix ``m//``: cutting the
    prefix's length off such a key made garbage paths (``.txt``, ``ub/x.txt``)."""
    bucket.put("m/a.txt", b"a")
    bucket.put("m/sub/x.txt", b"x")
    a = Artifact("x", "dataset")
    with pytest.raises(NotFoundError, match="no object at"):
        a.add_reference(f"s3://{bucket.name}/m//")
    assert a._references == {}


@contextlib.contextmanager
def listings_rewritten(rewrite: Callable[[dict[str, Any], dict[str, Any]], None]) -> Iterator[None]:
    """Every ListObjectsV2 answer passes through ``rewrite(params, parsed)`` (a store that
    misbehaves), in pages of two keys."""
    from modelbay.sdk import references

    sent: dict[str, Any] = {}

    def before(params: dict[str, Any], **_: Any) -> None:
        sent.clear()
        sent.update(params)

    def after(parsed: dict[str, Any], **_: Any) -> None:
        rewrite(sent, parsed)

    events = references._s3().meta.events
    events.register("before-parameter-build.s3.ListObjectsV2", before)
    events.register("after-call.s3.ListObjectsV2", after)
    saved, references.LIST_PAGE = references.LIST_PAGE, 2
    try:
        yield
    finally:
        references.LIST_PAGE = saved
        events.unregister("before-parameter-build.s3.ListObjectsV2", before)
        events.unregister("after-call.s3.ListObjectsV2", after)


def test_a_listing_that_gives_no_continuation_token_goes_on_after_its_last_key(
    bucket: Bucket,
) -> None:
    """A store may say a page is truncated and give no token (S3 itself does, to a request
    that gave ``StartAfter``): the listing goes on after the last key, as S3 allows."""
    for i in range(5):
        bucket.put(f"nt/{i}.txt", b"x")
    asked: list[str | None] = []

    def drop_token(params: dict[str, Any], parsed: dict[str, Any]) -> None:
        asked.append(params.get("StartAfter"))
        parsed.pop("NextContinuationToken", None)

    a = Artifact("notoken", "dataset")
    with listings_rewritten(drop_token):
        a.add_reference(f"s3://{bucket.name}/nt/")
    assert sorted(a._references) == [f"{i}.txt" for i in range(5)]
    assert asked == [None, "nt/1.txt", "nt/3.txt"]


@pytest.mark.parametrize("how", ["empty page, no token", "token sent back"])
def test_a_listing_that_cannot_move_on_is_a_transport_error_not_a_loop(
    bucket: Bucket, how: str
) -> None:
    for i in range(5):
        bucket.put(f"stuck/{i}.txt", b"x")

    def stuck(params: dict[str, Any], parsed: dict[str, Any]) -> None:
        if how == "empty page, no token":
            parsed.update(Contents=[], IsTruncated=True)
            parsed.pop("NextContinuationToken", None)
        elif "ContinuationToken" in params:
            parsed["NextContinuationToken"] = params["ContinuationToken"]

    a = Artifact("stuck", "dataset")
    with listings_rewritten(stuck), pytest.raises(TransportError) as failed:
        in_thread(lambda: a.add_reference(f"s3://{bucket.name}/stuck/"))
    assert failed.value.details["uri"] == f"s3://{bucket.name}/stuck/"
    assert a._references == {}


# -- the S3 client's settings ------------------------------------------------------------------


def test_s3_references_follow_aws_endpoint_url_when_it_changes(
    bucket: Bucket, seaweed_s3: SeaweedS3, monkeypatch: pytest.MonkeyPatch
) -> None:
    """boto3 reads ``AWS_ENDPOINT_URL`` when a client is made; modelbay's own setting and
    ``AWS_ENDPOINT_URL_S3`` come first."""
    bucket.put("e.bin", b"e")
    uri = f"s3://{bucket.name}/e.bin"
    closed = f"http://127.0.0.1:{closed_port()}"
    monkeypatch.delenv("MODELBAY_S3_ENDPOINT_URL")
    monkeypatch.delenv("AWS_ENDPOINT_URL_S3", raising=False)
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")
    monkeypatch.setenv("AWS_ENDPOINT_URL", seaweed_s3.endpoint_url)
    Artifact("x", "dataset").add_reference(uri)
    monkeypatch.setenv("AWS_ENDPOINT_URL", closed)
    with pytest.raises(TransportError, match=uri):
        Artifact("x", "dataset").add_reference(uri)
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", seaweed_s3.endpoint_url)
    Artifact("x", "dataset").add_reference(uri)
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", closed)
    monkeypatch.setenv("MODELBAY_S3_ENDPOINT_URL", seaweed_s3.endpoint_url)
    Artifact("x", "dataset").add_reference(uri)


@pytest.mark.parametrize("setting", ["AWS_SHARED_CREDENTIALS_FILE", "AWS_CONFIG_FILE"])
def test_s3_references_follow_the_file_their_keys_are_in_when_it_changes(
    bucket: Bucket,
    seaweed_s3: SeaweedS3,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    setting: str,
) -> None:
    bucket.put("k.bin", b"k")
    uri = f"s3://{bucket.name}/k.bin"
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    for name in ("AWS_PROFILE", "AWS_DEFAULT_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    for name in ("AWS_SHARED_CREDENTIALS_FILE", "AWS_CONFIG_FILE"):  # not the user's own
        monkeypatch.setenv(name, str(tmp_path / "none"))

    def keys(path: Path, secret: str) -> str:
        path.write_text(
            f"[default]\naws_access_key_id = {seaweed_s3.access_key}\n"
            f"aws_secret_access_key = {secret}\n"
        )
        return str(path)

    monkeypatch.setenv(setting, keys(tmp_path / "wrong", "not-the-secret"))
    with pytest.raises(PermissionDeniedError, match=uri):
        Artifact("x", "dataset").add_reference(uri)
    monkeypatch.setenv(setting, keys(tmp_path / "right", seaweed_s3.secret_key))
    Artifact("x", "dataset").add_reference(uri)


@pytest.mark.parametrize(
    "setting",
    [
        "AWS_ENDPOINT_URL",
        "AWS_CA_BUNDLE",
        "AWS_CONFIG_FILE",
        "AWS_SHARED_CREDENTIALS_FILE",
        "AWS_DEFAULT_PROFILE",
    ],
)
def test_an_s3_client_is_made_anew_when_a_setting_it_reads_changes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, setting: str
) -> None:
    """botocore reads these once, when the client is made (a TLS bundle, for one, cannot be
    shown against SeaweedFS over plain http)."""
    from modelbay.sdk.references import _s3

    config = tmp_path / "config"
    config.write_text("[profile one]\nregion = us-east-1\n[profile two]\nregion = us-east-1\n")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(config))
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    values = {
        "AWS_ENDPOINT_URL": ["http://127.0.0.1:1", "http://127.0.0.1:2"],
        "AWS_DEFAULT_PROFILE": ["one", "two"],
    }.get(setting)
    if values is None:  # a file
        for name in ("one", "two"):
            (tmp_path / name).write_bytes(config.read_bytes())
        values = [str(tmp_path / "one"), str(tmp_path / "two")]
    monkeypatch.setenv(setting, values[0])
    first = _s3()
    assert _s3() is first
    monkeypatch.setenv(setting, values[1])
    assert _s3() is not first


@pytest.mark.parametrize(
    ("setting", "values"),
    [
        ("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS", ["false", "true"]),
        ("AWS_ROLE_ARN", ["arn:aws:iam::1:role/one", "arn:aws:iam::1:role/two"]),
        ("AWS_WEB_IDENTITY_TOKEN_FILE", ["/tokens/one", "/tokens/two"]),
        ("AWS_RETRY_MODE", ["standard", "adaptive"]),
        ("AWS_REQUEST_CHECKSUM_CALCULATION", ["when_supported", "when_required"]),
        ("AWS_SECURITY_TOKEN", ["one", "two"]),
    ],
)
def test_an_s3_client_is_made_anew_for_any_aws_setting(
    monkeypatch: pytest.MonkeyPatch, setting: str, values: list[str]
) -> None:
    """botocore reads dozens of ``AWS_*`` settings once, when a client is made (whether to
    ignore AWS_ENDPOINT_URL, a role to assume, retries, checksums): not only those listed."""
    from modelbay.sdk.references import _s3

    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):  # no search for credentials
        monkeypatch.setenv(name, "unused")
    monkeypatch.setenv(setting, values[0])
    first = _s3()
    assert _s3() is first
    monkeypatch.setenv(setting, values[1])
    assert _s3() is not first
