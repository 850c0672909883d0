"""W&B's public runs API: ``Api().runs(path, filters, order)``, and a stored run's history,
summary, config and files (``Api().run(path)``).

``summary`` and ``config`` are plain dicts that :meth:`PublicRun.update` writes back (W&B
users assign to them and call ``update()``; assigning alone changes nothing stored, as in
W&B). ``history()`` answers W&B's rows; :meth:`PublicRun.series` answers modelbay's
per-key series, downsampled on the server.

A run's files (``upload_file``, ``files()``) are the files of its artifact
``run-<id>-files`` (type :data:`RUN_FILES_TYPE`), one version per upload holding them all.
"""

from __future__ import annotations

import datetime as dt
import fnmatch
import os
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from modelbay import names
from modelbay.contract import entities as e
from modelbay.contract import lifecycle as lc
from modelbay.contract import operations as ops
from modelbay.contract import public_api as pa
from modelbay.contract import requests as rq
from modelbay.errors import MissingExtraError, NotFoundError
from modelbay.sdk.artifact import Artifact, ArtifactFile
from modelbay.sdk.run_files import RUN_FILES_TYPE
from modelbay.sdk.transport import Transport

#: The type of the artifact that holds a run's files.
SYSTEM_PREFIX = "system/"
#: A file in each version of a run's files that makes every change a new version.
REVISION_FILE = ".modelbay-revision"


def run_files_name(run_id: str) -> str:
    return f"run-{run_id}-files"


def iso(seconds: float | None) -> str | None:
    """W&B's time format: ISO 8601 in UTC, to the second (``2024-05-01T12:00:00Z``)."""
    if seconds is None:
        return None
    moment = dt.datetime.fromtimestamp(seconds, dt.UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def _jsonable(value: Any) -> Any:
    """A filter as JSON: datetimes become ISO strings (the server reads them as times)."""
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, (dt.datetime, dt.date)):
        return value.isoformat()
    return value


class Summary(dict[str, Any]):
    """A run's summary: a dict; ``update(...)`` changes it and writes it back at once (as
    W&B's does), other changes are written by the run's ``update()``."""

    def __init__(self, run: PublicRun, values: dict[str, Any]) -> None:
        super().__init__(values)
        self._run = run

    def update(self, *args: Any, **kwargs: Any) -> None:
        super().update(*args, **kwargs)
        self._run.update()

    @property
    def _json_dict(self) -> dict[str, Any]:
        """The summary as a plain dict (W&B's scripts read this)."""
        return dict(self)


class File:
    """One of a run's files (W&B's ``public.File``)."""

    def __init__(self, run: PublicRun, artifact: Artifact, entry: ArtifactFile) -> None:
        self._run = run
        self._artifact = artifact
        self.name = entry.path
        self.size = entry.size
        self.digest = entry.sha256

    def download(self, root: str | os.PathLike[str] = ".", replace: bool = False) -> Any:
        """Write the file under ``root`` (kept if there unless ``replace``); returns it
        opened for reading, as W&B does."""
        target = Path(root) / self.name
        if replace or not target.exists():
            with tempfile.TemporaryDirectory() as tmp:
                self._artifact.download(tmp)
                target.parent.mkdir(parents=True, exist_ok=True)
                os.replace(Path(tmp) / self.name, target)
        return open(target, encoding="utf-8", errors="replace")  # noqa: SIM115  (W&B's API)

    def delete(self) -> None:
        """Remove the file from the run's files (a new version without it)."""
        self._run._rewrite_files(drop=self.name)

    def __repr__(self) -> str:
        return f"<File {self.name} ({self.size} bytes)>"


class PublicRun:
    """A stored run, read through the API (``Api().run("entity/project/id")``)."""

    def __init__(self, transport: Transport, info: e.Run, entity: str | None = None) -> None:
        self._transport = transport
        self._entity = entity
        self._load(info)

    def _load(self, info: e.Run) -> None:
        self._info = info
        self.config: dict[str, Any] = dict(info.config or {})
        self.summary = Summary(self, dict(info.summary or {}))
        self.tags: list[str] = list(info.tags or [])
        self.notes: str | None = info.notes

    id = property(lambda self: self._info.id)
    #: W&B's ``run.name`` is the display name; its ``run.id`` the id.
    name = property(lambda self: self._info.name)
    display_name = property(lambda self: self._info.name)
    project = property(lambda self: self._info.project)
    state = property(lambda self: self._info.state)
    job_type = property(lambda self: self._info.job_type)
    user = property(lambda self: self._info.user)
    username = property(lambda self: self._info.user)
    storage_id = property(lambda self: self._info.id)
    summary_metrics = property(lambda self: dict(self.summary))
    #: What the run recorded about its machine at ``init`` (W&B's ``wandb-metadata.json``).
    metadata = property(lambda self: dict(self._info.system or {}))

    @property
    def entity(self) -> str | None:
        """The entity the run was logged under (``init(entity=...)``), else the one of the
        path it was read by, else its user: modelbay holds one organisation, so an entity
        labels runs and scopes nothing."""
        system = self._info.system or {}
        return system.get("entity") or self._entity or self._info.user

    @property
    def group(self) -> str | None:
        return self._info.group

    @property
    def path(self) -> str:
        return f"{self.project}/{self.id}"

    @property
    def created_at(self) -> str | None:
        """When the run started, W&B's way: ``2024-05-01T12:00:00Z``."""
        return iso(self._info.created_at)

    @property
    def heartbeat_at(self) -> str | None:
        return iso(self._info.updated_at)

    @property
    def url(self) -> str:
        base = self._transport.url or "modelbay://local"
        return f"{base}/projects/{self.project}/runs/{self.id}"

    @property
    def lastHistoryStep(self) -> int:  # noqa: N802  (W&B's name)
        return -1 if self._info.last_step is None else int(self._info.last_step)

    def load(self) -> None:
        """Read the run again (changes not yet written with ``update()`` are dropped)."""
        request = rq.RunPath(project=self.project, run_id=self.id)
        self._load(self._transport.call(ops.GET_RUN, request))

    def update(self) -> None:
        """Write ``config``, ``summary``, ``tags`` and ``notes`` back to the store."""
        request = rq.RunUpdate(
            project=self.project,
            run_id=self.id,
            config=dict(self.config),
            summary=dict(self.summary),
            tags=list(self.tags),
            notes=self.notes,
        )
        info = self._transport.call(ops.UPDATE_RUN, request)
        self._load(info)

    def delete(self, delete_artifacts: bool = False) -> None:
        """Delete the run with its history, files and lineage (W&B's ``Run.delete``); the
        versions it logged stay, logged by no run, unless ``delete_artifacts``. Needs the
        admin role of the project.

        Raises:
            PermissionDeniedError: not an admin of the project.
            ConflictError: ``delete_artifacts`` and one of them is linked into a registry.
        """
        request = lc.RunDelete(
            project=self.project, run_id=self.id, delete_artifacts=delete_artifacts
        )
        self._transport.call(lc.DELETE_RUN, request)

    # -- history -------------------------------------------------------------------------

    def series(
        self, keys: list[str] | None = None, max_points: int | None = None, x_axis: str = "step"
    ) -> dict[str, list[list[Any]]]:
        """Metric history per key: ``{key: [[step, value, time], ...]}``; with ``max_points``,
        each series cut down on the server keeping every bucket's min and max (by ``x_axis``
        "step", "time", or a metric key: then each point is ``[step, value, time, x]``).

        Raises:
            InvalidInputError: bad keys, ``max_points`` or ``x_axis``.
        """
        request = rq.HistoryQuery(
            project=self.project,
            run_id=self.id,
            keys=keys,
            max_points=max_points,
            x_axis=x_axis,
        )
        return dict(self._transport.call(ops.HISTORY, request).history)

    def _rows(
        self, series: dict[str, list[list[Any]]], keys: list[str] | None, x_axis: str = "_step"
    ) -> list[dict[str, Any]]:
        """W&B's rows: one per step with ``_step``, ``_timestamp``, ``_runtime`` and the
        values logged at it; with ``keys``, only steps that have every one of them. Points
        read along a metric (``[step, value, time, x]``) put ``x`` in the row as ``x_axis``."""
        start = self._info.created_at
        rows: dict[int, dict[str, Any]] = {}
        for key, points in series.items():
            for point in points:
                step, value, at = point[0], point[1], point[2]
                row = rows.setdefault(step, {"_step": step})
                row[key] = value
                if len(point) == 4:
                    row[x_axis] = point[3]
                row["_timestamp"] = max(row.get("_timestamp", at), at)
        out = []
        for step in sorted(rows):
            row = rows[step]
            row["_runtime"] = row["_timestamp"] - start
            if keys is None or all(k in row for k in keys):
                out.append(row)
        return out

    def history(
        self,
        samples: int = 500,
        keys: list[str] | None = None,
        x_axis: str = "_step",
        pandas: bool = True,
        stream: str = "default",
    ) -> Any:
        """Up to about ``samples`` rows of metrics (sampled on the server, keeping each
        bucket's extremes), as a pandas DataFrame, or a list of dicts with ``pandas=False``.
        ``stream="system"`` (or W&B's older ``"events"``) gives the ``system/*`` metrics.

        ``x_axis`` "_step" (the default), "_timestamp", or a metric (a step metric of
        ``define_metric``, say "epoch"): then each key is sampled along that metric, only
        steps where it was logged come back (as on W&B's charts), and every row holds it.

        Raises:
            MissingExtraError: ``pandas=True`` without pandas installed.
            InvalidInputError: a bad ``x_axis`` or ``samples``.
        """
        if pandas:
            frame = _pandas()
        wanted = list(keys) if keys is not None else None
        if wanted is not None and x_axis not in ("_step", "_timestamp") and x_axis not in wanted:
            wanted.append(x_axis)
        axis = {"_step": "step", "_timestamp": "time"}.get(x_axis, x_axis)
        series = self.series(wanted, max_points=samples, x_axis=axis)
        system = stream in ("system", "events")  # "events": W&B's older name
        series = {k: v for k, v in series.items() if k.startswith(SYSTEM_PREFIX) == system}
        rows = self._rows(series, wanted, x_axis)
        return frame.DataFrame(rows) if pandas else rows

    def scan_history(
        self,
        keys: list[str] | None = None,
        page_size: int = 1000,
        min_step: int | None = None,
        max_step: int | None = None,
        use_cache: bool = True,
    ) -> Iterator[dict[str, Any]]:
        """Every row (no sampling) from ``min_step`` up to, not including, ``max_step``, in
        step order; with ``keys``, only the steps that have all of them. Read lazily,
        ``page_size`` steps a request: the server pages by step, so a long history is never
        held whole.

        Raises:
            InvalidInputError: bad keys or steps.
        """
        del use_cache  # each page is read once
        limit = max(1, min(int(page_size), rq.HISTORY_PAGE_MAX))
        cursor: str | None = None
        while True:
            request = rq.HistoryQuery(
                project=self.project,
                run_id=self.id,
                keys=list(keys) if keys is not None else None,
                min_step=min_step if cursor is None else None,
                max_step=max_step,
                limit=limit,
                cursor=cursor,
            )
            page = self._transport.call(ops.HISTORY, request)
            yield from self._rows(dict(page.history), keys)
            cursor = page.next_cursor
            if cursor is None:
                return

    @property
    def system_metrics(self) -> dict[str, Any]:
        """The last value of each ``system/*`` metric."""
        found = self._transport.call(ops.SUMMARIES, rq.SummariesQuery(runs=[self.path])).runs
        keys = [k for k in found[0].keys if k.startswith(SYSTEM_PREFIX)] if found else []
        if not keys:
            return {}
        return {k: points[-1][1] for k, points in self.series(keys).items() if points}

    # -- artifacts and files ---------------------------------------------------------------

    def media(self, keys: list[str] | None = None) -> dict[str, list[list[Any]]]:
        """The tables, images and histograms the run logged: ``{key: [[step, value,
        time], ...]}``, each value W&B's reference (``{"_type": "table-file", "path",
        "artifact_path", ...}``, ``image-file`` or an inline ``histogram``).

        Raises:
            InvalidInputError: bad keys.
        """
        from modelbay.contract import media

        request = media.MediaQuery(project=self.project, run_id=self.id, keys=keys)
        return dict(self._transport.call(media.RUN_MEDIA, request).media)

    def logged_artifacts(self) -> list[Artifact]:
        return self._artifacts("logged")

    def used_artifacts(self) -> list[Artifact]:
        return self._artifacts("used")

    def _artifacts(self, direction: str) -> list[Artifact]:
        request = rq.RunArtifactsQuery(
            project=self.project,
            run_id=self.id,
            direction=direction,  # type: ignore[arg-type]  # checked by the model
        )
        versions = self._transport.call(ops.RUN_ARTIFACTS, request).versions
        return [Artifact._from_version(self._transport, v) for v in versions]

    def _files_version(self) -> Artifact | None:
        ref = str(names.ArtifactRef(self.project, run_files_name(self.id), names.LATEST))
        try:
            version = self._transport.call(ops.RESOLVE, rq.RefQuery(ref=ref))
        except NotFoundError:
            return None
        return Artifact._from_version(self._transport, version)

    def files(
        self, names: list[str] | None = None, pattern: str | None = None, per_page: int = 50
    ) -> list[File]:
        """The run's files (those of ``names``, or matching the glob ``pattern``, if given)."""
        del per_page
        artifact = self._files_version()
        if artifact is None:
            return []
        return [
            File(self, artifact, entry)
            for entry in artifact.files()
            if entry.path != REVISION_FILE
            and (names is None or entry.path in names)
            and (pattern is None or fnmatch.fnmatch(entry.path, pattern))
        ]

    def file(self, name: str) -> File:
        """One of the run's files.

        Raises:
            NotFoundError: the run has no file by that name.
        """
        for found in self.files([name]):
            return found
        raise NotFoundError(f"run {self.path} has no file {name!r}")

    def upload_file(self, path: str, root: str = ".") -> File:
        """Store a local file among the run's files, named by its path relative to ``root``
        (a new version of the run's files artifact, holding the earlier files too)."""
        local = Path(path)
        name = os.path.relpath(local.resolve(), Path(root).resolve())
        if name.startswith(".."):
            name = local.name
        name = Path(name).as_posix()
        self._rewrite_files(add=(local, name))
        return self.file(name)

    def _rewrite_files(self, add: tuple[Path, str] | None = None, drop: str | None = None) -> None:
        draft = Artifact(run_files_name(self.id), RUN_FILES_TYPE)
        with tempfile.TemporaryDirectory() as tmp:
            previous = self._files_version()
            if previous is not None:
                previous.download(tmp)
                if drop is not None:
                    (Path(tmp) / drop).unlink(missing_ok=True)
                draft.add_dir(tmp)
            if add is not None:
                draft.add_file(str(add[0]), name=add[1])
            # Each change is a new version, even back to an earlier set of files (a commit
            # equal to an older version returns that one, and `latest` stays put).
            revision = Path(tmp) / REVISION_FILE
            revision.unlink(missing_ok=True)  # it may be a link into the download cache
            revision.write_text(str(time.time_ns()))
            draft.add_file(str(revision), name=REVISION_FILE)
            draft._log(self._transport, self.project, self.id, [])

    @property
    def commit(self) -> str | None:
        """The git commit the run was started from, if it was in a repository."""
        found = self.metadata.get("git_commit")
        return str(found) if found else None

    def __repr__(self) -> str:
        return f"<Run {self.entity}/{self.path} ({self.state})>"


def _pandas() -> Any:
    try:
        import pandas
    except ImportError:
        raise MissingExtraError(
            "run.history() returns a pandas DataFrame: pip install pandas "
            "(or pass pandas=False for a list of dicts)"
        ) from None
    return pandas


class Runs:
    """The runs of a project that match a filter, in an order, fetched a page at a time
    (W&B's ``Runs``): iterate, index, slice or take ``len()``."""

    def __init__(
        self,
        transport: Transport,
        project: str,
        filters: dict[str, Any] | None,
        order: str,
        per_page: int,
        entity: str | None,
    ) -> None:
        self._transport = transport
        self.project = project
        self.entity = entity
        self.filters = _jsonable(filters) if filters else None
        self.order = order
        self.per_page = per_page
        self._loaded: list[PublicRun] = []
        self._token: str | None = None
        self._done = False

    def _more(self) -> bool:
        if self._done:
            return False
        request = pa.RunsSearch(
            project=self.project,
            filters=self.filters,
            order=self.order,
            limit=self.per_page,
            page_token=self._token,
        )
        page = self._transport.call(pa.SEARCH_RUNS, request)
        self._loaded += [PublicRun(self._transport, r, self.entity) for r in page.runs]
        self._token = page.next_page_token
        self._done = not self._token
        return bool(page.runs)

    def __iter__(self) -> Iterator[PublicRun]:
        index = 0
        while True:
            while index < len(self._loaded):
                yield self._loaded[index]
                index += 1
            if not self._more():
                return

    def __getitem__(self, index: int | slice) -> Any:
        if isinstance(index, slice) or index < 0:
            return list(self)[index]
        while index >= len(self._loaded) and self._more():
            pass
        return self._loaded[index]

    def __len__(self) -> int:
        while self._more():
            pass
        return len(self._loaded)

    def __repr__(self) -> str:
        return f"<Runs {self.entity}/{self.project}>"
