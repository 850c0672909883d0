"""Fetching bytes: only what the destination and the local cache lack, in parallel (small
blobs in bundles), verified, and written to a temporary name beside their destination that
is renamed once verified; a cache that fails is left out, with one warning.
"""

from __future__ import annotations

import hashlib
import inspect
import os
import shutil
import stat
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

from modelbay.blobs.digest import sha256_file
from modelbay.contract import operations as ops
from modelbay.contract import requests as rq
from modelbay.errors import (
    DigestMismatchError,
    InvalidInputError,
    InvalidPathError,
    ModelbayError,
    TransportError,
)
from modelbay.jsontext import Info
from modelbay.names import check_no_file_is_a_folder
from modelbay.sdk.streams import locked_temp, open_new, remove_dead_temps
from modelbay.sdk.transfer import Meter, bundles, meter, run_all
from modelbay.sdk.transport import Transport


def download(
    transport: Transport,
    files: list[Info],
    root: Path,
    *,
    cache: Any = None,
    progress: bool = True,
) -> int:
    """Place every file of a manifest under ``root``; returns the size of the files fetched
    (a blob fetched once for several names counts at each, as it always has).

    Files already under ``root`` with the right size and digest are kept (a file's digest is
    remembered against its stat in the digest index, sdk/digests.py, so an unchanged file
    is not read again at every download); files in ``cache`` are linked or copied from it;
    the rest are fetched in parallel (small ones in bundles), each distinct blob once,
    verified, and put in the cache on the way. Nothing partial is ever left under a file's
    name, and partial files a killed download of these files left beside them are removed
    (never a live download's: see sdk/streams.py).

    A ``cache`` that cannot be used (see :meth:`Cache.open`), or that fails during the
    download (an OSError of its own: a full disk, a damaged index), is left out with one
    warning, and the download goes on without it. Ctrl-C stops the transfer: files not
    started are not, the ones being fetched or verified stop at their next chunk (partial
    files removed), and the KeyboardInterrupt goes on.

    Raises:
        InvalidPathError: before anything is fetched or ``root`` is made: a file would land
            outside ``root``, a file of the manifest is also a folder of another, or
            something already there is in the way (``root`` or a folder above it is a file,
            a folder stands where a file goes, a file where a folder goes). Also when
            something else puts such a thing in the way during the download.
        DigestMismatchError: bytes arrived corrupt (the stored blob, or the transfer, is
            damaged); the message names the file.
        TransportError: the server or the object store could not be reached.
    """
    guarded = _usable(cache)
    dests = _destinations(root, files)
    root.mkdir(parents=True, exist_ok=True)
    _remove_dead_partials(files, dests)
    fetched: dict[Path, int] = {}  # by destination: a retry without the cache counts once
    try:
        try:
            todo = _missing(files, dests, guarded)
            fetched.update((dest, int(f["size"])) for f, dest in todo)
            _fetch_all(transport, todo, guarded, progress)
        except _CacheFailedError as exc:
            _warn_unusable(exc.error)
            guarded = None
            # What the cache placed before it failed is whole (placed by rename) and kept if
            # right; the rest is fetched again, straight to its destination.
            todo = _missing(files, dests, None)
            fetched.update((dest, int(f["size"])) for f, dest in todo)
            _fetch_all(transport, todo, None, progress)
    except (IsADirectoryError, NotADirectoryError, FileExistsError) as exc:
        # The checks above passed: something else (another download into the same folder)
        # put a file or a folder in the way since.
        raise _changed_meanwhile(root, exc) from exc
    if guarded is not None:
        try:
            # Marked used last, so that what was just downloaded is the last to be evicted.
            guarded.touch_many(f["sha256"] for f in files if not f.get("ref"))
            guarded.enforce()
        except _CacheFailedError as exc:
            _warn_unusable(exc.error)
    return sum(fetched.values())


def _fetch_all(
    transport: Transport, todo: list[tuple[Info, Path]], cache: Any, progress: bool
) -> None:
    """Fetch the files of ``todo`` in parallel: each distinct blob once (small ones in
    bundles, large ones first), then references."""
    refs = [(f, dest) for f, dest in todo if f.get("ref")]
    copies: dict[str, list[tuple[Info, Path]]] = {}  # the destinations of each blob
    for f, dest in todo:
        if not f.get("ref"):
            copies.setdefault(f["sha256"], []).append((f, dest))
    urls: dict[str, Any] = {}
    if copies and not transport.embedded:
        found = transport.call(ops.LOCATIONS, rq.Digests(digests=sorted(copies))).locations
        urls = {digest: where.model_dump() for digest, where in found.items()}
    sizes = {digest: int(where[0][0]["size"]) for digest, where in copies.items()}
    # Small blobs the server sends itself come in bundles. Small blobs at presigned URLs
    # come one request each, but in groups, placed together (one write to the cache's
    # index a group, not one a blob). Large blobs come alone.
    signed = [d for d in copies if (urls.get(d) or {}).get("url")]
    is_signed = set(signed)
    groups, alone = bundles([d for d in copies if d not in is_signed], sizes)
    signed_groups, signed_alone = bundles(signed, sizes, SIGNED_GROUP)
    total = sum(sizes.values()) + sum(f["size"] for f, _ in refs)
    with meter("downloading", total, progress) as m:
        fetcher = _Fetcher(transport, cache, copies, sizes, urls, m)
        work: list[tuple[Callable[[Any], None], Any]] = [(fetcher.bundle, g) for g in groups]
        work += [(fetcher.signed, g) for g in signed_groups]
        # Large blobs first, so that the long transfers start early.
        large = sorted(alone + signed_alone, key=lambda d: -sizes[d])
        work += [(fetcher.blob, d) for d in large]
        work += [(fetcher.reference, item) for item in refs]
        run_all(lambda w: w[0](w[1]), work, m.stopped)


#: Small blobs at presigned URLs fetched (one request each) and placed together: few
#: enough that the groups of a download keep every worker busy to its end.
SIGNED_GROUP = 64


class _Fetcher:
    """The work items of one download, run on a pool's threads: a blob alone, a bundle of
    small blobs, a reference. Each places every destination of what it fetched."""

    def __init__(
        self,
        transport: Transport,
        cache: Any,
        copies: dict[str, list[tuple[Info, Path]]],
        sizes: dict[str, int],
        urls: dict[str, Any],
        m: Meter,
    ) -> None:
        self.transport = transport
        self.cache = cache
        self.copies = copies
        self.sizes = sizes
        self.urls = urls
        self.m = m

    def blob(self, digest: str) -> None:
        size, where = self.sizes[digest], self.copies[digest]
        first = where[0][1]
        first.parent.mkdir(parents=True, exist_ok=True)
        url = (self.urls.get(digest) or {}).get("url")
        try:
            _place(
                self.cache,
                digest,
                size,
                first,
                lambda tmp: self.transport.download_blob(digest, tmp, url, self.m, size),
            )
        except DigestMismatchError as exc:
            raise _corrupt(exc, digest, size, where[0][0]["path"]) from exc
        for _, dest in where[1:]:  # the same bytes again: placed from the first copy
            self.m.check()
            dest.parent.mkdir(parents=True, exist_ok=True)
            if self.cache is None or not self.cache.materialize(digest, size, dest, touch=False):
                _copy(first, dest)

    def bundle(self, group: list[str]) -> None:
        blobs: list[tuple[str, bytes]] = []
        for digest, data in self.transport.download_bundle(group):
            self.m.check()
            blobs.append((digest, data))
        if {d for d, _ in blobs} != set(group):
            raise TransportError("the server sent another set of blobs than asked for")
        self._place_small(group, blobs)

    def signed(self, group: list[str]) -> None:
        blobs: list[tuple[str, bytes]] = []
        for digest in group:
            self.m.check()
            url, size = self.urls[digest]["url"], self.sizes[digest]
            blobs.append((digest, self.transport.presigned.read(url, digest, size)))
        self._place_small(group, blobs)

    def _place_small(self, group: list[str], blobs: list[tuple[str, bytes]]) -> None:
        """Check the fetched bytes of ``group``'s blobs, then place every destination of
        each: through the cache (one insert and one placing for all), else written."""
        for digest, data in blobs:
            _check_bytes(digest, self.sizes[digest], data, self.copies[digest][0][0]["path"])
        wanted = [(d, self.sizes[d], dest) for d in group for _, dest in self.copies[d]]
        for dest in {dest.parent for _, _, dest in wanted}:
            dest.mkdir(parents=True, exist_ok=True)
        placed = [False] * len(wanted)
        if self.cache is not None:
            self.cache.insert_many(blobs)
            placed = self.cache.materialize_many(wanted)
        held = dict(blobs)
        for (digest, _, dest), done in zip(wanted, placed, strict=True):
            if not done:  # no cache, or evicted by another process meanwhile
                _write(held[digest], dest)
        self.m(sum(self.sizes[d] for d in group))

    def reference(self, item: tuple[Info, Path]) -> None:
        from modelbay.sdk.references import fetch_reference

        f, dest = item
        dest.parent.mkdir(parents=True, exist_ok=True)
        fetch_reference(f, dest, self.m)


class _CacheFailedError(ModelbayError):
    """The download cache failed with an OSError of its own (:attr:`error`) during a
    download, which then goes on without it. Never leaves this module."""

    def __init__(self, error: OSError) -> None:
        super().__init__(str(error))
        self.error = error


class _Guarded:
    """A cache whose methods raise :class:`_CacheFailedError` for an OSError of the cache's
    own. One that names a file outside the cache (a destination that cannot be written)
    goes on as it is: downloading without the cache would meet it too."""

    def __init__(self, cache: Any) -> None:
        self._cache = cache
        self._root: str = os.path.abspath(cache.root)

    def __getattr__(self, name: str) -> Any:
        method = getattr(self._cache, name)

        def call(*args: Any, **kwargs: Any) -> Any:
            try:
                return method(*args, **kwargs)
            except OSError as exc:
                if any(self._outside(f) for f in (exc.filename, exc.filename2)):
                    raise
                raise _CacheFailedError(exc) from exc

        return call

    def _outside(self, filename: Any) -> bool:
        if filename is None or isinstance(filename, int):
            return False
        path: str = os.path.abspath(os.fsdecode(filename))
        return os.path.commonpath([path, self._root]) != self._root


def _usable(cache: Any) -> _Guarded | None:
    """``cache`` if it can be used now (guarded: see :class:`_Guarded`), else None, with a
    warning that says why."""
    if cache is None:
        return None
    try:
        cache.open()
    except OSError as exc:
        _warn_unusable(exc)
        return None
    return _Guarded(cache)


def _warn_unusable(exc: OSError) -> None:
    """Warn that the cache is left out, pointing at the caller's line: the first frame
    outside the modelbay package, however deep in it this runs (Artifact.download, the
    CLI, or download() called directly)."""
    package = os.path.dirname(os.path.dirname(os.path.abspath(__file__))) + os.sep
    level, frame = 1, inspect.currentframe()
    assert frame is not None  # CPython keeps frames
    while frame.f_back is not None and os.path.abspath(frame.f_code.co_filename).startswith(
        package
    ):
        frame, level = frame.f_back, level + 1
    warnings.warn(
        f"{exc}; downloading without it (point MODELBAY_CACHE_DIR at a writable "
        "local directory to use one)",
        stacklevel=level,
    )


def _remove_dead_partials(files: list[Info], dests: list[Path]) -> None:
    """Remove the partial files a killed download left beside these destinations, the
    fetched blobs' and the references' alike (both writers lock theirs: see sdk/streams.py)."""
    names: dict[Path, set[str]] = {}
    for dest in dests:
        names.setdefault(dest.parent, set()).add(dest.name)
    for parent, wanted in names.items():
        remove_dead_temps(parent, wanted)


def _corrupt(exc: DigestMismatchError, digest: str, size: int, path: str) -> DigestMismatchError:
    """The error for the file ``path`` whose blob came down corrupt, from the lower-level
    one (which names a temporary file). This end cannot tell whether the server's copy or
    the transfer is damaged: the message says both."""
    actual = exc.details.get("actual")
    got = f"sha256 {actual[:12]}" if actual else f"{exc.details.get('size')} bytes"
    want = f"sha256 {digest[:12]}" if actual else f"{size} bytes"
    return DigestMismatchError(
        f"download of {path} arrived corrupt (expected {want}, got {got}): the stored copy "
        f"of its blob or the transfer is damaged; nothing was written under {path}",
        {"path": path, "expected": digest, **({"actual": actual} if actual else {})},
    )


def _missing(files: list[Info], dests: list[Path], cache: Any) -> list[tuple[Info, Path]]:
    """The files to fetch: references, and stored files neither already at their
    destination nor in ``cache`` (those are placed from it now: one read of its index and
    one stat per destination, see :meth:`Cache.place_many`).

    A file at its destination is kept if it is the cache's own entry (a hard link to it:
    its inode says so, without reading it). Any other file there is re-linked from the
    cache when it holds the blob and can hard-link it (metadata only). Only a regular file
    of the right size that the cache cannot link over (another filesystem, or not cached)
    is checked: its digest is remembered against its stat in the digest index when it has
    not changed since it was last hashed, else it is hashed (and remembered). Anything
    else there is replaced.
    """
    stored = [(f, dest) for f, dest in zip(files, dests, strict=True) if not f.get("ref")]
    keys = [(f["sha256"], f["size"], dest) for f, dest in stored]
    if cache is not None and stored:
        status = cache.place_many(keys)
    else:
        status = ["check" if _sized(dest, f["size"]) else "absent" for f, dest in stored]
    done = [s in ("linked", "placed") for s in status]
    check = [i for i, s in enumerate(status) if s == "check"]
    if check:
        for i, found in zip(check, _digests([stored[i][1] for i in check]), strict=True):
            done[i] = found == stored[i][0]["sha256"]
    wrong = [i for i in check if not done[i]]
    if cache is not None and wrong:
        for i, placed in zip(wrong, cache.materialize_many([keys[i] for i in wrong]), strict=True):
            done[i] = placed
    todo = [(f, dest) for f, dest in zip(files, dests, strict=True) if f.get("ref")]
    return todo + [item for item, ok in zip(stored, done, strict=True) if not ok]


def _sized(path: Path, size: int) -> bool:
    """``path`` is a regular file (not followed if a symlink) of ``size`` bytes."""
    try:
        st = os.lstat(path)
    except (FileNotFoundError, NotADirectoryError):
        return False
    return stat.S_ISREG(st.st_mode) and st.st_size == size


def _digests(paths: list[Path]) -> list[str | None]:
    """The sha256 of each file (None if it cannot be read), from the digest index where its
    stat is unchanged, else hashed in parallel. Ctrl-C stops every file being hashed at its
    next chunk, as it stops fetches."""
    from modelbay.sdk.digests import default_index

    def hash_all(todo: list[Path]) -> list[tuple[str, int]]:
        out: list[tuple[str, int]] = [("", 0)] * len(todo)
        with meter("verifying", 0, enabled=False) as m:

            def one(i: int) -> None:
                out[i] = sha256_file(todo[i], m)  # m raises once the transfer stops

            run_all(one, list(range(len(todo))), m.stopped)
        return out

    try:
        return [digest for digest, _ in default_index().digest_many(paths, hash_all)]
    except (OSError, InvalidInputError):  # one changed or vanished meanwhile: fetch them all
        return [None] * len(paths)


def _destinations(root: Path, files: list[Info]) -> list[Path]:
    """Where each file goes under ``root``, checked before anything is fetched or written.

    Each distinct parent directory is resolved once (symlinks followed); a file's own name
    is never followed, since files are put in place by renaming over it. What is already
    under ``root`` is the user's and is never removed to make room: a folder where a file
    goes, or a file where a folder goes, is an error.

    Raises:
        InvalidPathError: a file would land outside ``root``; the version has a file under
            a file (``m`` and ``m/inner``: committed before that was refused); or something
            already under ``root`` is in the way.
    """
    try:
        check_no_file_is_a_folder([f["path"] for f in files])
    except InvalidPathError as exc:
        raise InvalidPathError(f"this version cannot be downloaded: {exc}", exc.details) from exc
    folders: dict[Path, Path | None] = {}
    if (blocked := _not_a_folder(root, folders)) is not None:
        raise InvalidPathError(
            f"cannot download into {root}: {blocked} is {_not_folder_kind(blocked)} already; "
            "move it away or download elsewhere",
            {"root": str(root), "in_the_way": str(blocked)},
        )
    real_root = root.resolve()
    inside: dict[Path, bool] = {}
    out: list[Path] = []
    for f in files:
        dest = root / f["path"]
        parent = dest.parent
        ok = inside.get(parent)
        if ok is None:
            ok = inside[parent] = parent.resolve().is_relative_to(real_root)
            if ok and (blocked := _not_a_folder(parent, folders)) is not None:
                raise _in_the_way(f["path"], blocked, _not_folder_kind(blocked))
        if not ok or dest.name in ("", "..") or dest == root:
            raise InvalidPathError(f"file {f['path']!r} would land outside {root}")
        if _is_folder(dest):
            raise _in_the_way(f["path"], dest, "a folder")
        out.append(dest)
    return out


def _in_the_way(path: str, there: Path, what: str) -> InvalidPathError:
    return InvalidPathError(
        f"cannot download {path!r}: {there} is {what} already; move it away or download elsewhere",
        {"path": path, "in_the_way": str(there)},
    )


def _changed_meanwhile(root: Path, exc: OSError) -> InvalidPathError:
    # A rename's or a link's error names the source first: the destination is in the way.
    there = exc.filename2 or exc.filename or root
    return InvalidPathError(
        f"cannot finish the download into {root}: something else changed it meanwhile, and "
        f"{there} is in the way ({exc.strerror or type(exc).__name__}); is another download "
        "writing there?",
        {"path": str(root), "in_the_way": str(there)},
    )


def _not_folder_kind(path: Path) -> str:
    """What :func:`_not_a_folder` found, for a message."""
    return "a link to no folder" if os.path.islink(path) else "a file"


def _not_a_folder(parent: Path, seen: dict[Path, Path | None]) -> Path | None:
    """The first thing at or above ``parent`` that exists but is not a folder (symlinks
    followed), or None. The walk goes up while nothing exists (past a download's root not
    made yet, to a file it would lie under). Answers are remembered in ``seen``, by folder."""
    walked: list[Path] = []
    found: Path | None = None
    folder = parent
    while True:
        if folder in seen:
            found = seen[folder]
            break
        walked.append(folder)
        if os.path.isdir(folder):
            break
        if os.path.lexists(folder):
            found = folder
            break
        if folder == folder.parent:
            break
        folder = folder.parent
    for each in walked:
        seen[each] = found
    return found


def _is_folder(dest: Path) -> bool:
    """A folder (not a symlink to one) is at ``dest``."""
    try:
        return stat.S_ISDIR(os.lstat(str(dest)).st_mode)
    except (FileNotFoundError, NotADirectoryError):
        return False


def _check_bytes(digest: str, size: int, data: bytes, path: str) -> None:
    actual = hashlib.sha256(data).hexdigest()
    if actual != digest or len(data) != size:
        raise DigestMismatchError(
            f"download of {path} is corrupt: the stored copy of its blob is damaged (expected "
            f"sha256 {digest[:12]}, {size} bytes; got sha256 {actual[:12]}, {len(data)} bytes)",
            {"path": path, "expected": digest, "actual": actual, "size": len(data)},
        )


def _write(data: bytes, path: Path) -> None:
    """Write verified bytes to ``path``, atomically."""
    with locked_temp(path) as tmp:
        with open_new(tmp) as f:
            f.write(data)
        os.replace(tmp, path)


def _copy(src: Path, dest: Path) -> None:
    """Copy the file ``src`` to ``dest``, atomically."""
    with locked_temp(dest) as tmp:
        shutil.copyfile(src, tmp)
        os.replace(tmp, dest)


def _place(cache: Any, digest: str, size: int, dest: Path, fill: Callable[[Path], None]) -> None:
    """Put a blob at ``dest``: through the cache when there is one (``fill`` writes it into
    the cache), else by ``fill`` writing ``dest`` itself."""
    if cache is None:
        fill(dest)
        return
    # Another process may evict the entry between insert and materialize: try again.
    for _ in range(5):
        cache.insert(digest, size, fill)
        if cache.materialize(digest, size, dest, touch=False):
            return
    fill(dest)
