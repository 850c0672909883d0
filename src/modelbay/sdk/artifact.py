"""``Artifact``: a draft you add files to, then (once logged) a handle on an immutable version."""

from __future__ import annotations

import os
import stat
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from modelbay import names
from modelbay.blobs.digest import sha256_file
from modelbay.contract import entities as e
from modelbay.contract import operations as ops
from modelbay.contract import requests as rq
from modelbay.errors import (
    ConflictError,
    DigestMismatchError,
    InvalidInputError,
    InvalidPathError,
    NotFoundError,
)
from modelbay.jsontext import Info
from modelbay.sdk.artifact_entry import ArtifactEntry
from modelbay.sdk.artifact_lineage import ArtifactLineage
from modelbay.sdk.local_tree import _walk, _within
from modelbay.sdk.transport import Transport

if TYPE_CHECKING:
    pass


@dataclass(frozen=True)
class ArtifactFile:
    """One file of an artifact version."""

    path: str
    sha256: str
    size: int
    ref: str | None = None
    etag: str | None = None

    @property
    def name(self) -> str:
        return self.path


class Artifact(ArtifactLineage):
    """A named, typed sequence of versions; this object is a draft until logged.

    Args:
        name: ``[A-Za-z0-9._-]``, 1-128 characters.
        type: e.g. ``"model"`` or ``"dataset"``.
        description: Markdown.
        metadata: a JSON object of at most 100 keys (no NaN or infinity).

    Raises:
        InvalidNameError, InvalidInputError: on bad values, at once.
    """

    def __init__(
        self,
        name: str,
        type: str,
        description: str | None = None,
        metadata: dict[str, Any] | None = None,
        incremental: bool = False,
        use_as: str | None = None,
    ) -> None:
        # ``incremental`` and ``use_as`` are W&B's, accepted and unused: every version is
        # stored by content already, and W&B deprecated use_as.
        self._name = names.check_name(name, "artifact")
        self._type = names.check_name(type, "type")
        self.description = names.check_description(description)
        self.metadata: dict[str, Any] = names.check_metadata(metadata)
        self.aliases: list[str] = []
        self.tags: list[str] = []
        # A name is in at most one of _entries and _references: the later add wins.
        self._entries: dict[str, Path] = {}
        self._references: dict[str, Info] = {}
        # Files a draft made by new_draft() keeps from its version: stored already.
        self._carried: dict[str, Info] = {}
        self._draft_project: str | None = None
        # The real directory each entry added by add_dir must still resolve inside at log time.
        self._dir_roots: dict[str, Path] = {}
        self._tmpdir: tempfile.TemporaryDirectory[str] | None = None
        self._version: e.Version | None = None
        self._transport: Transport | None = None
        self._saved: dict[str, Any] = {}
        #: Digests of files this draft wrote itself from bytes it hashed (``add``).
        self._digests: dict[Path, tuple[str, int]] = {}
        #: Set when an offline run staged this draft (sdk/offline.py).
        self._client_id: str | None = None

    # -- building a draft ---------------------------------------------------------------------

    def _check_draft(self) -> None:
        if self._version is not None:
            raise ConflictError(
                f"{self.qualified_name} is logged and immutable; create a new Artifact to change files"
            )

    def _put(self, target: str, path: Path, root: Path | None = None) -> None:
        """Add a local file as ``target``, replacing whatever had that name (a reference too)."""
        self._references.pop(target, None)
        self._carried.pop(target, None)
        self._entries[target] = path
        if root is None:
            self._dir_roots.pop(target, None)
        else:
            self._dir_roots[target] = root

    def add_file(
        self, local_path: str | os.PathLike[str], name: str | None = None
    ) -> ArtifactFile | None:
        """Add one file, as ``name`` (default: its base name).

        Raises:
            InvalidPathError: ``name`` is unsafe, or the path is not a regular file.
        """
        self._check_draft()
        path = Path(local_path).absolute()  # a later chdir must not change what is logged
        if not path.is_file():
            raise InvalidPathError(f"{local_path} is not a file", {"path": str(local_path)})
        target = names.check_path(name if name is not None else path.name)
        self._put(target, path)
        return None

    def add_dir(self, local_path: str | os.PathLike[str], name: str | None = None) -> None:
        """Add every file under a directory (under the prefix ``name`` if given).

        Symbolic links are followed only while they stay inside the directory: checked now,
        and again when the artifact is logged, before anything is hashed or sent (a link
        changed in between to point out is refused then).

        Raises:
            InvalidPathError: not a directory, a link pointing out of it, or an unsafe name.
        """
        self._check_draft()
        root = Path(local_path).absolute()  # a later chdir must not change what is logged
        if not root.is_dir():
            raise InvalidPathError(f"{local_path} is not a directory", {"path": str(local_path)})
        prefix = names.check_path(name).rstrip("/") + "/" if name else ""
        real_root = root.resolve()
        found: dict[str, Path] = {}
        for rel, path in _walk(root, real_root):
            found[names.check_path(prefix + rel)] = path
        for target, path in found.items():
            self._put(target, path, real_root)

    def add_reference(
        self,
        uri: str,
        name: str | None = None,
        checksum: bool = True,
        max_objects: int | None = None,
    ) -> None:
        """Track ``s3://``, ``file://`` or ``http(s)://`` objects without copying their bytes
        (a ``file://`` directory or an ``s3://`` prefix adds every file under it).

        ``file://`` files are tracked by their sha256 and ``s3://`` objects by their ETag
        (and version), whatever ``checksum`` says. An ``http(s)://`` URL is tracked, with
        ``checksum=True``, by the strong ETag and length its server sends for a HEAD, or else
        by the sha256 of its body; with ``checksum=False`` only the URL is recorded and a
        download checks nothing. A download refuses bytes that differ from what was recorded.

        Args:
            uri: ``file:///abs/path``, ``s3://bucket/key`` (or a prefix), ``http(s)://...``.
            name: the path in the artifact (of the file, or of the folder it all goes into).
            checksum: False records an ``http(s)://`` URL without reading it.
            max_objects: the most files a directory or a prefix may hold, 100,000 when None
                (W&B's default is 10,000,000); one more is refused, and is where the walk
                or the listing stops. A single file, object or URL counts as one.

        Raises:
            InvalidInputError: an unsupported or malformed URI, a ``max_objects`` that is not
                a positive int, or a directory or prefix holding more files than it allows
                (nothing is added).
            InvalidPathError: an unsafe name, or a path that clashes with another's folder.
            NotFoundError: nothing at that URI.
            PermissionDeniedError: the store or server refused access.
            TransportError: the store or server could not be reached, or failed.

        Examples:
            >>> art.add_reference("s3://datasets/imagenet/", max_objects=500_000)
        """
        from modelbay.sdk.references import entries_for

        self._check_draft()
        for entry in entries_for(uri, name, checksum=checksum, max_objects=max_objects):
            self._entries.pop(entry["path"], None)
            self._carried.pop(entry["path"], None)
            self._dir_roots.pop(entry["path"], None)
            self._references[entry["path"]] = entry

    def new_file(self, name: str, mode: str = "x", encoding: str | None = None) -> IO[Any]:
        """Open a new file inside the artifact for writing (use it as a context manager)."""
        self._check_draft()
        target = names.check_path(name)
        if self._tmpdir is None:
            self._tmpdir = tempfile.TemporaryDirectory(prefix="modelbay-artifact-")
        path = Path(self._tmpdir.name) / target
        path.parent.mkdir(parents=True, exist_ok=True)
        self._put(target, path)
        return open(path, mode, encoding=encoding)

    def add(self, obj: Any, name: str) -> None:
        """Add a :class:`~modelbay.Table`, :class:`~modelbay.Image`,
        :class:`~modelbay.Histogram`, ``PartitionedTable`` or ``JoinedTable`` as
        ``<name>.<type>.json`` (W&B's file), with the images it holds under
        ``media/images/`` (each stored once, named by its digest).

        Raises:
            InvalidInputError: ``obj`` is none of those types.
            InvalidPathError: ``name`` is unsafe.
        """
        from modelbay.sdk import table_parts

        self._check_draft()
        names.check_path(name)
        if self._tmpdir is None:
            self._tmpdir = tempfile.TemporaryDirectory(prefix="modelbay-artifact-")
        for target, path, digest in table_parts.stage(obj, name, Path(self._tmpdir.name)):
            self._put(names.check_path(target), path)
            if digest is not None:
                self._digests[path] = digest

    # -- logging --------------------------------------------------------------------------------

    def _manifest(self, transport: Transport | None = None) -> tuple[list[Info], dict[str, Path]]:
        """The files (sorted by path) and where each digest's bytes are; with a
        ``transport``, large new files are sent while they are hashed.

        An artifact with no files is a version too, as in W&B (metadata only).

        Raises:
            InvalidInputError: a file removed since it was added.
            InvalidPathError: a path that is another's folder, or a file added from a
                directory that no longer resolves inside it (see :meth:`_check_dirs`).
        """
        from modelbay.sdk.transfer import hash_files

        items = sorted(self._entries.items())
        names.check_no_file_is_a_folder(
            [p for p, _ in items] + list(self._references) + list(self._carried)
        )
        self._check_dirs()
        known = self._digests
        rest = iter(hash_files([src for _, src in items if src not in known], transport))
        hashed = [known[src] if src in known else next(rest) for _, src in items]
        files: list[Info] = [
            {"path": p, "sha256": d, "size": s}
            for (p, _), (d, s) in zip(items, hashed, strict=True)
        ]
        sources: dict[str, Path] = {
            str(f["sha256"]): src for f, (_, src) in zip(files, items, strict=True)
        }
        files.extend(self._references.values())
        files.extend(self._carried.values())
        return sorted(files, key=lambda f: f["path"]), sources

    def _check_dirs(self) -> None:
        """Check that every file added by :meth:`add_dir` still resolves inside its directory.

        A link inside may have been re-pointed out (or a directory swapped for such a link)
        since it was added. Costs one ``lstat`` per file, and one ``realpath`` per distinct
        directory and per file that is a link. There remains a window between this check
        and the moment a file is opened to be hashed or sent: a link swapped in exactly then
        is followed. Closing it would take ``O_NOFOLLOW`` opens of every path component.

        Raises:
            InvalidPathError: a file now resolves outside its directory, or is no longer a file.
            InvalidInputError: a file was removed after it was added.
        """
        from modelbay.sdk.transfer import removed_after_add

        # Plain strings, and one answer per directory: pathlib would cost more than the stats.
        inside: dict[tuple[str, str], bool] = {}  # (directory, root) -> resolves inside root
        for target, root in self._dir_roots.items():
            path = os.fspath(self._entries[target])
            try:
                st = os.lstat(path)
            except (FileNotFoundError, NotADirectoryError):
                raise removed_after_add(path) from None
            where = str(root)
            ok: bool | None
            if stat.S_ISLNK(st.st_mode):
                real = os.path.realpath(path)
                ok = _within(real, where)
            else:
                parent = os.path.dirname(path)
                ok = inside.get((parent, where))
                if ok is None:
                    ok = inside[parent, where] = _within(os.path.realpath(parent or "."), where)
                real = path if ok else os.path.realpath(path)
            if not ok:
                raise InvalidPathError(
                    f"{path} now resolves to {real}, outside the directory it was added "
                    f"from ({root})",
                    {"path": path},
                )
            if not (stat.S_ISREG(st.st_mode) or os.path.isfile(real)):
                raise InvalidPathError(f"{path} is no longer a file", {"path": path})

    def _log(
        self, transport: Transport, project: str, run_id: str | None, aliases: list[str] | None
    ) -> bool:
        """Upload what the server lacks and commit; returns whether a new version was created."""
        from modelbay.sdk.transfer import upload

        files, sources = self._manifest(transport)
        sizes = {f["sha256"]: f["size"] for f in files if not f.get("ref")}
        missing_rounds = 0
        waits = iter(GC_RETRY_DELAYS)
        while True:
            try:
                upload(transport, sizes, sources)
                request = rq.VersionCommit(
                    project=project,
                    name=self._name,
                    type=self._type,
                    files=[rq.FileEntry(**f) for f in files],
                    description=self.description,
                    metadata=self.metadata,
                    aliases=sorted(
                        set(aliases or []) | {a for a in self.aliases if a != names.LATEST}
                    ),
                    tags=self.tags,
                    run_id=run_id,
                )
                version = transport.call(ops.COMMIT_VERSION, request)
                break
            except InvalidInputError as exc:
                # Garbage collection may take a blob between its upload and this commit:
                # upload what is missing again.
                missing_rounds += 1
                if "missing" not in exc.details or missing_rounds == 3:
                    raise
            except ConflictError as exc:
                # A blob of ours is being deleted by garbage collection right now: once its
                # batch is gone (quickly), it is simply missing, and is sent again.
                wait = next(waits, None) if _being_collected(exc, sizes) else None
                if wait is None:
                    raise
                time.sleep(wait)
        created = version.created is not False
        self._bind(transport, version)
        if self._tmpdir is not None:
            self._tmpdir.cleanup()
            self._tmpdir = None
        return created

    @classmethod
    def _from_version(cls, transport: Transport, version: e.Version) -> Artifact:
        art = cls.__new__(cls)
        art._name = version.name
        art._type = version.type
        art._entries = {}
        art._references = {}
        art._carried = {}
        art._draft_project = None
        art._dir_roots = {}
        art._tmpdir = None
        art._client_id = None
        art._digests = {}
        art._bind(transport, version)
        return art

    def _bind(self, transport: Transport, version: e.Version) -> None:
        self._transport = transport
        self._version = version
        self.description = version.description
        self.metadata = dict(version.metadata)
        self.aliases = list(version.aliases)
        self.tags = list(version.tags)
        self._saved = {
            "description": self.description,
            "metadata": dict(self.metadata),
            "aliases": list(self.aliases),
            "tags": list(self.tags),
        }
        self._apply_ttl()

    def _logged(self) -> tuple[Transport, e.Version]:
        if self._version is None or self._transport is None:
            raise ConflictError(
                f"artifact {self._name!r} is not logged yet: log it with run.log_artifact()"
            )
        return self._transport, self._version

    @staticmethod
    def _ref_of(version: e.Version) -> names.Ref:
        """The reference of ``version``, built from its fields rather than parsed from its
        name: a project may end in ``-registry``, and ``X-registry/name`` parses as
        registry X."""
        if version.link is not None:
            link = version.link
            return names.RegistryRef(link.registry, link.collection, link.version)
        return names.ArtifactRef(version.project, version.name, version.version)

    # -- a logged version -----------------------------------------------------------------------

    @property
    def name(self) -> str:
        """``name:vN`` once logged (as W&B shows it), else the bare name."""
        version = self._version
        if version is None:
            return self._name
        if version.link is not None:
            return f"{version.link.collection}:{version.link.version}"
        return f"{self._name}:{version.version}"

    @property
    def type(self) -> str:
        return self._type

    @property
    def version(self) -> str:
        version = self._logged()[1]
        return version.link.version if version.link else version.version

    @property
    def qualified_name(self) -> str:
        """The reference of this version: ``project/name:vN`` or ``registry-registry/collection:vN``."""
        version = self._version
        if version is None:
            return self._name
        return version.link.ref if version.link else version.ref

    @property
    def source_qualified_name(self) -> str:
        return self._logged()[1].ref

    @property
    def is_link(self) -> bool:
        return self._version is not None and self._version.link is not None

    @property
    def project(self) -> str:
        return self._logged()[1].project

    @property
    def digest(self) -> str:
        return self._logged()[1].digest

    @property
    def size(self) -> int:
        return self._logged()[1].size

    @property
    def id(self) -> int:
        return self._logged()[1].id

    @property
    def state(self) -> str:
        """W&B's states: ``PENDING`` for a draft, ``COMMITTED`` once logged, ``DELETED``."""
        if self._version is None:
            return "PENDING"
        return "DELETED" if self._version.deleted else "COMMITTED"

    @property
    def file_count(self) -> int:
        """How many files the version holds (a draft: how many were added)."""
        if self._version is not None:
            return self._version.file_count
        return len(self._entries) + len(self._references) + len(self._carried)

    def wait(self, timeout: int | None = None) -> Artifact:
        """Return this version once logged. Logging returns only when a version is
        committed, so there is nothing to wait for: this is W&B's call, kept for scripts.

        Raises:
            ConflictError: the artifact is a draft, never logged.
        """
        self._logged()
        return self

    def is_draft(self) -> bool:
        return self._version is None

    def new_draft(self) -> Artifact:
        """A draft of the next version, holding this version's files, description and
        metadata: add, remove or replace files, then log or save it. Files kept from this
        version are not read or sent again.
        """
        transport, version = self._logged()
        draft = Artifact(version.name, version.type, self.description, dict(self.metadata))
        draft._carried = {
            f.path: {k: v for k, v in f.model_dump().items() if v is not None}
            for f in self._files(transport)
        }
        draft._draft_project = version.project
        return draft

    def remove(self, item: str | os.PathLike[str] | ArtifactEntry) -> None:
        """Remove a file from a draft, or every file under a folder (``"images/"``).

        Raises:
            ConflictError: the artifact is logged (make a :meth:`new_draft`).
            InvalidPathError: no file or folder of the draft has that path.
        """
        self._check_draft()
        path = item.path if isinstance(item, ArtifactEntry) else os.fspath(item)
        folder = path.rstrip("/") + "/"
        removed = 0
        for bucket in (self._entries, self._references, self._carried, self._dir_roots):
            for key in [k for k in bucket if k == path or k.startswith(folder)]:
                del bucket[key]
                removed += bucket is not self._dir_roots
        if not removed:
            raise InvalidPathError(
                f"{path!r} is not a file or folder of this draft", {"path": path}
            )

    def get_entry(self, name: str) -> ArtifactEntry:
        """The file ``name`` of this version (W&B's manifest entry), to download alone.

        Raises:
            NotFoundError: the version has no such file.
        """
        transport, _ = self._logged()
        for f in self._files(transport):
            if f.path == name:
                return ArtifactEntry(self, f.path, f.sha256, f.size, f.ref)
        raise NotFoundError(f"{self.qualified_name} has no file {name!r}", {"path": name})

    def get_path(self, name: str) -> ArtifactEntry:
        """W&B's older name for :meth:`get_entry`."""
        return self.get_entry(name)

    @property
    def info(self) -> Info:
        """The description the server returned, as JSON (``link`` only on a registry version)."""
        version = self._logged()[1]
        return version.model_dump(
            exclude={"created", "link"} if version.link is None else {"created"}
        )

    def files(self) -> list[ArtifactFile]:
        transport, _ = self._logged()
        return [ArtifactFile(**f.model_dump()) for f in self._files(transport)]

    def _files(self, transport: Transport) -> list[e.FileEntry]:
        ref = self._ref_of(self._logged()[1])
        if isinstance(ref, names.RegistryRef):
            op: ops.Operation[Any, e.Files] = ops.COLLECTION_VERSION_FILES
        else:
            op = ops.ARTIFACT_VERSION_FILES
        return transport.call(op, rq.version_path(ref)).files

    def get(self, name: str) -> Any:
        """The Table, Image, Histogram, PartitionedTable or JoinedTable added as ``name``,
        with its images (fetched into ``./artifacts/<name>-<version>`` as :meth:`download`
        does, and only those files); a table file is read a row at a time.

        Raises:
            NotFoundError: no such object in this version.
        """
        from modelbay.sdk import table_parts

        transport, _ = self._logged()
        files = {f.path: f.model_dump() for f in self._files(transport)}
        cache = None if transport.writes_local_disk else _cache_for(transport)
        return table_parts.read(self, transport, files, cache, name)

    def download(
        self,
        root: str | os.PathLike[str] | None = None,
        allow_missing_references: bool = False,
        skip_cache: bool | None = None,
        path_prefix: str | None = None,
        multipart: bool | None = None,
    ) -> str:
        """Fetch every file into ``root`` (default ``./artifacts/<name>-<version>``), verified;
        with ``path_prefix``, only the files whose path starts with it (``"images/"``, or one
        file's path). ``skip_cache`` fetches without the local cache; ``allow_missing_references``
        and ``multipart`` are W&B's, accepted and unused (large files are fetched in parts).

        One manifest request; files already in ``root`` with the right content are kept, files
        in the local cache (``$MODELBAY_CACHE_DIR``) are linked or copied from it, the rest are
        fetched in parallel. Other files in ``root`` are left alone. Returns the directory.

        Raises:
            InvalidPathError: before anything is fetched or ``root`` is made: something
                already there is in the way (``root`` or a folder above it is a file, a
                folder stands where a file goes, a file where a folder goes), or a file would
                land outside ``root``.
            DigestMismatchError: a file arrived corrupt (nothing is left under its name).
        """
        from modelbay.sdk.downloads import download

        transport, _ = self._logged()
        target = Path(root) if root is not None else Path("artifacts") / self.name.replace(":", "-")
        files = [f.model_dump() for f in self._files(transport)]
        if path_prefix is not None:
            files = [f for f in files if f["path"].startswith(path_prefix)]
        for f in files:
            names.check_path(f["path"])
        cache = None
        if not transport.writes_local_disk and not skip_cache:
            cache = _cache_for(transport)
        # download() makes ``target`` after its checks: a root that is a file, or under one,
        # is their typed error, not mkdir's OSError.
        download(transport, files, target, cache=cache)
        return str(target)

    def file(self, root: str | os.PathLike[str] | None = None) -> str:
        """Download and return the path of the single file of this version.

        Raises:
            InvalidInputError: the version holds more than one file.
        """
        files = self.files()
        if len(files) != 1:
            raise InvalidInputError(
                f"{self.qualified_name} holds {len(files)} files; file() needs exactly one"
            )
        return str(Path(self.download(root)) / files[0].path)

    def verify(self, root: str | os.PathLike[str] | None = None) -> None:
        """Check that ``root`` holds exactly this version's files with their digests.

        Raises:
            DigestMismatchError: a file is missing, differs, or is not part of the version.
        """
        target = Path(root) if root is not None else Path("artifacts") / self.name.replace(":", "-")
        expected = {f.path: f.sha256 for f in self.files()}
        present = {rel for rel, _ in _walk(target, target.resolve())} if target.is_dir() else set()
        problems = []
        for path, digest in expected.items():
            local = target / path
            if not local.is_file():
                problems.append(f"missing {path}")
            elif sha256_file(local)[0] != digest:
                problems.append(f"changed {path}")
        problems.extend(f"unexpected {p}" for p in sorted(present - set(expected)))
        if problems:
            raise DigestMismatchError(
                f"{target} does not match {self.qualified_name}: {', '.join(problems[:10])}",
                {"problems": problems[:100]},
            )

    def save(self, project: str | None = None, settings: Any = None) -> None:
        """Persist edits of ``description``, ``metadata``, ``aliases`` and ``tags``; on a
        draft, log it as W&B does: by the current run if there is one, else without a run,
        in ``project`` (default: the version it was drafted from, ``$MODELBAY_PROJECT`` or
        ``$WANDB_PROJECT``, else ``uncategorized``).

        Raises:
            InvalidNameError: a bad alias or tag, or ``latest`` added by hand (removing it
                changes nothing, with a line saying so: it follows the newest version).
        """
        if self._version is None:
            self._save_draft(project, settings)
            return
        transport, _ = self._logged()
        self._apply_ttl()
        if names.check_alias_edit(self.aliases, self._saved["aliases"]):
            print(
                f"modelbay: {self.qualified_name}: 'latest' follows the newest version and "
                "is not removed by hand; it stays where it is",
                file=sys.stderr,
            )
        current = {
            "description": self.description,
            "metadata": self.metadata,
            "aliases": list(self.aliases),
            "tags": list(self.tags),
        }
        changed: dict[str, Any] = {k: v for k, v in current.items() if v != self._saved.get(k)}
        if not changed:
            return
        ref = self._ref_of(self._logged()[1])
        if isinstance(ref, names.RegistryRef):
            version = transport.call(
                ops.UPDATE_COLLECTION_VERSION,
                rq.CollectionVersionUpdate(
                    registry=ref.registry,
                    collection=ref.collection,
                    selector=ref.selector,
                    **changed,
                ),
            )
        else:
            version = transport.call(
                ops.UPDATE_ARTIFACT_VERSION,
                rq.ArtifactVersionUpdate(
                    project=ref.project, name=ref.name, selector=ref.selector, **changed
                ),
            )
        self._bind(transport, version)

    def _save_draft(self, project: str | None, settings: Any) -> None:
        import modelbay
        from modelbay.sdk.transport import connect

        current = getattr(modelbay, "run", None)
        if project is None and current is not None and not current._finished:
            current.log_artifact(self)
            return
        project = names.check_project(
            project
            or self._draft_project
            or os.environ.get("MODELBAY_PROJECT")
            or os.environ.get("WANDB_PROJECT")
            or "uncategorized"
        )
        self._log(connect(settings), project, None, None)

    def link(self, target_path: str, aliases: list[str] | None = None) -> Artifact:
        """Link this version into a registry collection, e.g. ``"model-registry/MNIST"``.

        Returns the registry version. Linking it again returns the same registry version.
        A draft is saved first (see :meth:`save`), as W&B does.
        """
        if self._version is None:
            self._save_draft(None, None)
        transport, _ = self._logged()
        registry, collection = parse_target(target_path)
        request = rq.Link(
            registry=registry,
            collection=collection,
            artifact=self.source_qualified_name,
            aliases=aliases,
        )
        return Artifact._from_version(transport, transport.call(ops.LINK, request))

    def unlink(self) -> None:
        """Remove this registry version from its collection (the source version stays)."""
        transport, _ = self._logged()
        ref = self._ref_of(self._logged()[1])
        if not isinstance(ref, names.RegistryRef):
            raise InvalidInputError(
                f"{ref} is not a registry version: unlink takes 'registry-registry/name:vN'"
            )
        path = rq.CollectionVersionPath(
            registry=ref.registry, collection=ref.collection, selector=ref.selector
        )
        transport.call(ops.UNLINK, path)

    def delete(self, delete_aliases: bool = False) -> None:
        """Delete this artifact version (refused while it is linked into a registry).

        As in W&B, a version holding aliases is deleted only with ``delete_aliases=True``
        (``latest`` does not count: it moves to the newest version left).

        Raises:
            ConflictError: the version holds aliases and ``delete_aliases`` is False, or it
                is linked into a registry.
        """
        transport, version = self._logged()
        held = [a for a in version.aliases if a != names.LATEST]
        if held and not delete_aliases and version.link is None:
            raise ConflictError(
                f"{self.qualified_name} holds the aliases {', '.join(held)}: pass "
                "delete_aliases=True to delete it with them",
                {"aliases": held},
            )
        ref = self._ref_of(self._logged()[1])
        if isinstance(ref, names.RegistryRef):
            raise ConflictError(f"{ref} is a registry version: unlink it instead of deleting")
        path = rq.ArtifactVersionPath(project=ref.project, name=ref.name, selector=ref.selector)
        transport.call(ops.DELETE_ARTIFACT_VERSION, path)

    def __repr__(self) -> str:
        return f"<Artifact {self.qualified_name} type={self._type}>"


#: Seconds to wait before each new attempt when a blob being sent is being garbage-collected
#: (about 13 s in all: gc deletes a batch of at most 1000 blobs, then lets go of it).
GC_RETRY_DELAYS = (0.1, 0.2, 0.4, 0.8, 1.6, 3.2, 6.4)


def _being_collected(exc: ConflictError, sizes: dict[str, int]) -> bool:
    """Whether ``exc`` says that blobs of this log (``sizes``) are being garbage-collected
    (services/blobs.py ``_being_collected``)."""
    details = exc.details
    named = [details.get("sha256"), *(details.get("deleting") or [])]
    return details.get("reason") == "being_collected" and any(d in sizes for d in named)


def _cache_for(transport: Transport) -> Any:
    """The download cache (``$MODELBAY_CACHE_DIR``, bounded by ``$MODELBAY_CACHE_MAX_SIZE``)."""
    from modelbay.sdk.cache import Cache

    return Cache.from_env()


#: ``model-registry/MNIST`` -> ("model", "MNIST"): see :func:`modelbay.names.parse_target`.
parse_target = names.parse_target


__all__ = ["Artifact", "ArtifactFile", "parse_target"]
