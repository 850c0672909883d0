"""``init`` and ``Run``: one execution of a training script, with W&B's names and meanings.

``run.log`` only checks its values and appends them to an in-process queue; a background
:class:`~modelbay.sdk.spool.Sender` journals them to the run's local directory (fsync'd
once per flush interval) and sends them through the transport. See :mod:`modelbay.sdk.spool`
for what survives a crash of the server, the network or the training process.
"""

from __future__ import annotations

import atexit
import collections
import os
import sys
import time
import warnings
from collections.abc import Mapping
from pathlib import Path
from types import TracebackType
from typing import Any
from urllib.parse import quote

from modelbay import names
from modelbay.contract import operations as ops
from modelbay.contract import requests as rq
from modelbay.errors import InvalidInputError, ModelbayError
from modelbay.jsontext import Info
from modelbay.sdk.artifact import Artifact, parse_target
from modelbay.sdk.media import Histogram, Image, ImageGroup, Media
from modelbay.sdk.metric_defs import Definitions, Metric
from modelbay.sdk.offline import CLIENT_SCHEME, run_media, stage
from modelbay.sdk.run_config import Config, RunSettings, Summary, printable
from modelbay.sdk.run_distributed import DistributedArtifacts
from modelbay.sdk.spool import Journal, Point, Sender, Uploader
from modelbay.sdk.system import SystemMonitor, system_facts
from modelbay.sdk.transport import Transport
from modelbay.sdk.wandb_settings import silenced

DEFAULT_PROJECT = "uncategorized"
MODES = ("online", "offline", "disabled")
MAX_KEY_CHARS = 256
_NUMBER = frozenset((float, int, bool))

__all__ = [
    "Config",
    "Run",
    "RunSettings",
    "Summary",
    "current_run",
    "finish",
    "log",
    "printable",
    "system_facts",
]
#: Where ``modelbay server`` listens unless told otherwise: the link an embedded run prints.
DEFAULT_UI = "http://127.0.0.1:8765"


def _flatten(data: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in data.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            out.update(_flatten(value, name + "/"))
        else:
            out[name] = value
    return out


def _number(value: Any) -> int | float | bool | None:
    """``value`` as a plain int, float or bool, or None when it is not a number.

    Takes subclasses (numpy.float64) and anything with a scalar ``item()`` (numpy and torch
    scalars, one-element tensors).
    """
    if isinstance(value, bool):
        return bool(value)
    if isinstance(value, int):
        try:
            float(value)
        except OverflowError:
            return None
        return int(value)
    if isinstance(value, float):
        return float(value)
    item = getattr(value, "item", None)
    if callable(item):
        try:
            inner = item()
        except Exception:  # e.g. a tensor of many elements: not a scalar
            return None
        if isinstance(inner, bool | int | float):
            return _number(inner)
    return None


_uncaught = False
_hooked = False


def _install_excepthook() -> None:
    """Note an uncaught exception, so that the run finished at exit is marked failed."""
    global _hooked
    if _hooked:
        return
    previous = sys.excepthook

    def hook(kind: type[BaseException], value: BaseException, tb: TracebackType | None) -> None:
        global _uncaught
        _uncaught = True
        previous(kind, value, tb)

    sys.excepthook = hook
    _hooked = True


def _say(message: str) -> None:
    print(f"modelbay: {message}", file=sys.stderr, flush=True)


class Run(DistributedArtifacts):
    """One execution of a script. Use :func:`modelbay.init` to make one."""

    #: W&B's ``silent``/``quiet`` setting: no "view it at" line.
    _quiet = False

    def __init__(
        self,
        info: Info,
        *,
        transport: Transport | None,
        journal: Journal | None,
        run_settings: RunSettings,
        mode: str = "online",
    ) -> None:
        self._transport = transport
        self._info = info
        self._mode = mode
        self._run_settings = run_settings
        self.id: str = info["id"]
        self.project: str = info["project"]
        self.name: str = info["name"]
        self._tags: tuple[str, ...] = tuple(info.get("tags") or ())
        self._notes: str | None = info.get("notes")
        self.job_type: str | None = info.get("job_type")
        system = info.get("system") or {}
        self.group: str | None = info.get("group") or system.get("group")
        self.entity: str = system.get("entity") or info.get("user") or "local"
        self._definitions: Definitions | None = None
        self.dir: str | None = str(journal.dir) if journal is not None else None
        self.config = Config(info.get("config") or {})
        self.summary = Summary(info.get("summary") or {})
        last = info.get("last_step")
        self._step = 0 if last is None else int(last) + 1
        self._pending: dict[str, Any] = {}
        self._known: set[str] = set()
        self._warned: set[str] = set()
        self._finished = False
        self._summary_changed = False
        # A disabled run drops what it is given: a queue of length 0 costs nothing.
        self._queue: collections.deque[Point] = collections.deque(
            maxlen=0 if mode == "disabled" else None
        )
        self._wake_at = 5_000  # points: journal (and send) early when logging fast
        self._journal = journal
        self._sender: Sender | None = None
        self._monitor: SystemMonitor | None = None
        if journal is not None:
            uploader = (
                Uploader(journal, transport, self.project, self.id)
                if transport is not None
                else None
            )
            self._sender = Sender(
                journal,
                uploader,
                self._queue,
                self._collect_update,
                run_settings.flush_interval,
                self.path,
                heartbeat=run_settings.heartbeat_interval,
            )
            if run_settings.system_interval > 0:
                self._monitor = SystemMonitor(self._log_system, run_settings.system_interval)
        _install_excepthook()
        atexit.register(self._atexit)

    # -- identity -------------------------------------------------------------------------------

    @property
    def path(self) -> str:
        return f"{self.project}/{self.id}"

    @property
    def url(self) -> str | None:
        """The run's page: on the server, or (embedded) where ``modelbay server`` shows it
        by default; None offline or disabled."""
        if self._transport is None:
            return None
        base = self._transport.url or DEFAULT_UI
        return f"{base}/projects/{quote(self.project)}/runs/{quote(self.id)}"

    def _labels(self, entity: str | None, group: str | None, user: str) -> None:
        """Set ``entity`` and ``group`` from ``init`` (a resumed run keeps its stored ones)."""
        self.entity = entity or self._info.get("user") or user
        self.group = group or self.group

    def _announce(self, what: str) -> None:
        """Say where to view the run, on a terminal only, unless silenced."""
        url = self.url
        if url is None or silenced(self._quiet) or not sys.stderr.isatty():
            return
        hint = (
            "" if self._transport is None or self._transport.url else " (start `modelbay server`)"
        )
        _say(f"run {self.name} {what}: view it at {url}{hint}")

    @property
    def tags(self) -> tuple[str, ...]:
        """The run's tags; assigning a new list saves it."""
        return self._tags

    @tags.setter
    def tags(self, value: Any) -> None:
        tags = names.check_tags(list(value) if isinstance(value, tuple) else value)
        self._update(tags=tags)
        self._tags = tuple(tags)

    @property
    def notes(self) -> str | None:
        """The run's notes (its description); assigning saves them."""
        return self._notes

    @notes.setter
    def notes(self, value: str | None) -> None:
        self._update(notes=names.check_description(value))
        self._notes = value

    def _update(self, **fields: Any) -> None:
        if self._transport is not None and not self._finished:
            request = rq.RunUpdate(project=self.project, run_id=self.id, **fields)
            self._transport.call(ops.UPDATE_RUN, request)

    @property
    def step(self) -> int:
        return self._step

    @property
    def offline(self) -> bool:
        return self._mode == "offline"

    @property
    def disabled(self) -> bool:
        return self._mode == "disabled"

    # -- metrics --------------------------------------------------------------------------------

    def log(
        self,
        data: Mapping[str, Any] | None = None,
        step: int | None = None,
        commit: bool | None = None,
    ) -> None:
        """Record values at a step; returns at once (a background sender writes them).

        Values are numbers and bools (NaN and the infinities kept), numpy and torch scalars,
        and dicts of them, flattened to ``outer/inner`` keys; other values are reported once
        per key and left out. Without ``step``, each call commits a step and the next call
        goes to the next one; ``commit=False`` merges the values into the step the next
        committing call writes. With ``step``, the values go to that step, which is
        committed when a higher step arrives (or with ``commit=True``), as in W&B. A step
        lower than the current one is refused with a warning (the values are dropped),
        never an error.

        Raises:
            InvalidInputError: the run is finished, or ``data`` is not a dict.
        """
        if self._finished:
            raise InvalidInputError(f"run {self.path} is finished; start a new one with init()")
        if step is not None and not self._move_to(step):
            return
        pending = self._pending
        if (
            not pending
            and type(data) is dict
            and data.keys() <= self._known
            and _NUMBER.issuperset(map(type, data.values()))
        ):
            # The common call: known keys, plain numbers. Checked and copied in C.
            self._pending = dict(data)
        else:
            try:
                items = data.items() if data is not None else ()
            except AttributeError:
                raise InvalidInputError("run.log takes a dict of values") from None
            known = self._known
            for key, value in items:
                if key in known and type(value) in _NUMBER:
                    pending[key] = value
                else:
                    self._add(key, value, pending, "")
        if commit or (commit is None and step is None):
            self._commit()

    def _move_to(self, step: Any) -> bool:
        """Go to an explicit step; False (with a warning) when it cannot be used."""
        try:
            step = int(step.__index__())
        except (AttributeError, TypeError):
            self._warn_once("step", f"run.log: ignoring invalid step {step!r}")
            return False
        if step < 0:
            self._warn_once("step", f"run.log: ignoring invalid step {step!r}")
            return False
        if step < self._step:
            self._warn_once(
                f"step<{step}",
                f"run.log: step {step} is lower than the current step {self._step}; "
                "values dropped (steps only go up)",
            )
            return False
        if step > self._step:
            self._commit()
            self._step = step
        return True

    def _add(self, key: Any, value: Any, pending: dict[str, Any], prefix: str) -> None:
        """The slow path of :meth:`log`: new keys, nested dicts, non-builtin numbers."""
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            for k, v in value.items():
                self._add(k, v, pending, name + "/")
            return
        if value is None:
            return
        if name not in self._known and (
            not name or len(name) > MAX_KEY_CHARS or not name.isprintable()
        ):
            self._warn_once(
                f"key:{name[:80]}",
                f"run.log: key {name[:80]!r} is not stored: a key is 1 to "
                f"{MAX_KEY_CHARS} printable characters",
            )
            return
        if isinstance(value, list | tuple) and value and all(isinstance(v, Image) for v in value):
            value = ImageGroup(value)  # W&B's images/separated
        if isinstance(value, Media):
            ref = self._log_media(name, value)
            if ref is not None:
                self._known.add(name)
                pending[name] = ref
            return
        number = _number(value)
        if number is None:
            self._warn_once(
                f"type:{name}",
                f"run.log: {name!r} has a value of type {type(value).__name__}, which is not "
                "stored in the history (numbers and bools are); reported once",
            )
            return
        self._known.add(name)
        pending[name] = number

    def _log_media(self, key: str, value: Media) -> dict[str, Any] | None:
        """The reference the history keeps for a Table or images at this step, which are
        staged as a version of the run's artifact ``run-<id>-<key>`` for the sender to
        upload (see :func:`~modelbay.sdk.offline.run_media`); a Histogram is kept inline."""
        if isinstance(value, Histogram):
            return value.to_json()
        if self.disabled:
            return None
        artifact, ref, target = run_media(self.id, key, value)
        self._stage(artifact, None)
        ref["artifact_path"] = f"{CLIENT_SCHEME}{artifact._client_id}/{target}"
        return ref

    def _stage(self, artifact: Artifact, aliases: list[str] | None) -> None:
        """Offline: keep the artifact's bytes in the run's directory and journal it."""
        if self._sender is None or self.dir is None:
            raise InvalidInputError("this run keeps nothing: it is disabled")
        payload = stage(Path(self.dir), artifact, aliases)
        self._sender.record("artifact", payload)

    def _commit(self) -> None:
        pending = self._pending
        if not pending:
            return
        self._queue.append((self._step, time.time(), pending))
        dict.update(self.summary, pending)
        self._summary_changed = True
        self._pending = {}
        self._step += 1
        if len(self._queue) == self._wake_at and self._sender is not None:
            self._sender.wake.set()

    def define_metric(
        self,
        name: str,
        step_metric: str | Metric | None = None,
        step_sync: bool | None = None,
        hidden: bool | None = None,
        summary: str | None = None,
        goal: str | None = None,
        overwrite: bool | None = None,
    ) -> Metric:
        """Say how a metric (or a glob of them, ``"val/*"``) is summarised and plotted.

        ``summary`` is one or more of ``min``, ``max``, ``mean``, ``last``, ``first``,
        ``best`` (with ``goal`` "minimize" or "maximize"), comma-separated; the run's summary
        then holds a dict of them for the metric (``{"min": 0.1, "max": 0.9}``), updated at
        each step; ``none`` keeps the metric out of the summary. ``step_metric`` is the
        metric the charts plot it against by default (and ``run.history(x_axis=...)``
        samples along); with ``step_sync`` (the default when a step metric is given) a row
        that lacks the step metric gets its last value. ``hidden`` keeps it off the charts.
        The definitions are stored with the run, online and offline.

        Raises:
            InvalidInputError: an unknown ``summary`` or ``goal``, or ``best`` without one.
        """
        if self._definitions is None:
            self._definitions = Definitions()
            # Only a run with definitions pays for them: its commit is swapped for one that
            # also updates the summaries (an instance attribute, found before the method).
            self._commit = self._commit_defined  # type: ignore[method-assign]
        if isinstance(step_metric, Metric):
            step_metric = step_metric.name
        metric = self._definitions.define(
            name, step_metric, step_sync, hidden, summary, goal, overwrite
        )
        return metric

    def _commit_defined(self) -> None:
        pending = self._pending
        if not pending:
            return
        assert self._definitions is not None
        self._definitions.sync_steps(pending)
        Run._commit(self)
        self._definitions.apply(pending, self.summary)

    def _log_system(self, sample: dict[str, float]) -> None:
        # At the last committed step: system metrics never move the step.
        self._queue.append((max(self._step - 1, 0), time.time(), sample))

    def _collect_update(self) -> Info | None:
        """The config and summary when they changed since the last flush (sender thread)."""
        update: Info = {}
        if self.config.dirty:
            self.config.dirty = False
            update["config"] = printable(dict(self.config))
        if self.summary.dirty or self._summary_changed:
            self.summary.dirty = False
            self._summary_changed = False
            update["summary"] = printable(dict(self.summary))
        if self._definitions is not None and self._definitions.dirty:
            update["metric_defs"] = self._definitions.records()
        return update or None

    def _warn_once(self, key: str, message: str) -> None:
        if key not in self._warned:
            self._warned.add(key)
            warnings.warn(message, stacklevel=4)

    # -- lifecycle ------------------------------------------------------------------------------

    def finish(self, exit_code: int = 0) -> None:
        """Flush everything and mark the run finished (``failed`` for a non-zero exit code).

        Waits at most ``RunSettings.exit_timeout`` seconds for an unreachable server; what
        it did not take stays in the run's journal, and a message says how to send it
        (``modelbay sync DIR``). Never raises for a server that is away.
        """
        if self._finished:
            return
        self._commit()
        self._finished = True
        self._announce("finished")
        atexit.unregister(self._atexit)
        import modelbay

        if getattr(modelbay, "run", None) is self:
            modelbay.run = None
        if self._monitor is not None:
            self._monitor.stop()
        sender, journal = self._sender, self._journal
        if sender is None or journal is None:
            return
        state = "finished" if exit_code == 0 else "failed"
        final = {"state": state, "exit_code": exit_code, "time": time.time()}
        self.config.dirty = True
        self.summary.dirty = True
        try:
            sent = sender.close(final, timeout=0 if self.offline else 1.0)
            if not sent and not self.offline:
                sent = self._wait_for_server(sender)
        except KeyboardInterrupt:
            sent = False
        if self.offline:
            sender.release(remove=False)
            _say(
                f"offline run {self.path} saved in {journal.dir}; upload it with "
                f"`modelbay sync {journal.dir}`"
            )
        elif sent:
            sender.release(remove=not self._run_settings.keep_journal)
        else:
            sender.release(remove=False)
            _say(
                f"run {self.path}: the server did not take everything before the exit "
                f"timeout ({sender.error or 'still sending'}); the rest is kept in "
                f"{journal.path}: send it with `modelbay sync {journal.dir}` "
                "(or resume the run)"
            )

    def _wait_for_server(self, sender: Sender) -> bool:
        """Wait while the server takes the rest; give up after ``exit_timeout`` seconds in
        which it took nothing (it is away, or stuck)."""
        timeout = self._run_settings.exit_timeout
        said = False
        last = sender.progress
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if sender.wait(min(1.0, max(0.0, deadline - time.monotonic()))):
                return True
            if sender.progress != last:
                last = sender.progress
                deadline = time.monotonic() + timeout
            elif sender.error and not said:
                said = True
                _say(
                    f"run {self.path}: waiting up to {timeout:.0f}s for the server "
                    f"({sender.error}); Ctrl-C to leave the rest for `modelbay sync`"
                )
        return sender.wait(0)

    def _atexit(self) -> None:
        try:
            self.finish(exit_code=1 if _uncaught else 0)
        except ModelbayError as exc:
            _say(f"could not finish run {self.path}: {exc.message}")

    def __enter__(self) -> Run:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.finish(exit_code=0 if exc_type is None else 1)

    def _online(self, what: str) -> Transport:
        if self._transport is None:
            raise InvalidInputError(
                f"{what} needs a connection: this run is {self._mode} (metrics, config, "
                "summary, logged and linked artifacts only)"
            )
        return self._transport

    # -- artifacts ------------------------------------------------------------------------------

    def log_artifact(
        self,
        artifact_or_path: Artifact | str | os.PathLike[str],
        name: str | None = None,
        type: str | None = None,
        aliases: list[str] | None = None,
        tags: list[str] | None = None,
    ) -> Artifact:
        """Log an artifact (or a file or directory path) as a new version of it.

        ``aliases`` may hold ``latest`` (it follows the newest version anyway); ``tags``
        are put on the version. Content equal to a live version creates nothing new; the
        existing version is returned and a line says so. Offline, the files are kept in the
        run's directory and the draft is returned; ``modelbay sync`` uploads them, in order
        with the run's other records.
        """
        if isinstance(artifact_or_path, Artifact):
            artifact = artifact_or_path
        else:
            path = Path(artifact_or_path)
            artifact = Artifact(name or f"run-{self.id}-{path.name}", type or "unspecified")
            if path.is_dir():
                artifact.add_dir(path)
            else:
                artifact.add_file(path)
        if tags is not None:
            artifact.tags = sorted(set(artifact.tags) | set(names.check_tags(tags)))
        if self.offline:
            self._stage(artifact, names.check_aliases(aliases))
            _say(f"offline: {artifact.name} is kept in {self.dir}; `modelbay sync` uploads it")
            return artifact
        created = artifact._log(
            self._online("log_artifact"), self.project, self.id, names.check_aliases(aliases)
        )
        if not created:
            print(
                f"modelbay: {artifact.qualified_name} has the same content; no new version was created",
                file=sys.stderr,
            )
        return artifact

    def use_artifact(
        self,
        artifact_or_name: Artifact | str,
        type: str | None = None,
        aliases: list[str] | None = None,
        use_as: str | None = None,
    ) -> Artifact:
        """Record that this run uses a version and return it (``name``, ``name:alias``,
        ``project/name:alias``, ``entity/project/name:alias``, or a registry reference such
        as ``model-registry/MNIST:production``).

        An :class:`Artifact` not logged yet is logged first (into this run's project, with
        ``aliases``) and then used, as in W&B. ``use_as`` is accepted and ignored (W&B
        deprecated it).
        """
        transport = self._online("use_artifact")
        if isinstance(artifact_or_name, Artifact):
            if artifact_or_name._version is None:
                artifact_or_name._log(transport, self.project, None, names.check_aliases(aliases))
            ref = artifact_or_name.qualified_name
        else:
            ref = artifact_or_name
        if isinstance(artifact_or_name, Artifact) and not artifact_or_name.is_link:
            version = artifact_or_name._logged()[1]
            parsed: names.Ref = names.ArtifactRef(version.project, version.name, version.version)
        else:
            parsed = names.parse_ref(ref, default_project=self.project)
        # A version of this run's project goes as a bare name, for the server to read in
        # that project: the project may end in -registry, where 'project/name' would name
        # a registry.
        in_project = isinstance(parsed, names.ArtifactRef) and parsed.project == self.project
        text = f"{parsed.name}:{parsed.selector}" if in_project else str(parsed)  # type: ignore[union-attr]
        request = rq.Use(ref=text, project=self.project, run_id=self.id)
        version = transport.call(ops.USE, request)
        if type is not None and version.type != type:
            raise InvalidInputError(f"{ref} has type {version.type!r}, not {type!r}")
        return Artifact._from_version(transport, version)

    def log_model(
        self,
        path: str | os.PathLike[str],
        name: str | None = None,
        aliases: list[str] | None = None,
        tags: list[str] | None = None,
    ) -> Artifact:
        """Log a model file or directory as an artifact of type ``model``."""
        p = Path(path)
        artifact = Artifact(name or f"run-{self.id}-{p.name}", "model")
        if p.is_dir():
            artifact.add_dir(p)
        else:
            artifact.add_file(p)
        return self.log_artifact(artifact, aliases=aliases, tags=tags)

    def use_model(self, name: str) -> str:
        """Use a model version and return its local path: the file itself when it holds exactly
        one file, else the directory."""
        artifact = self.use_artifact(name)
        if "model" not in artifact.type:
            raise InvalidInputError(f"{name} has type {artifact.type!r}, which is not a model type")
        root = artifact.download()
        files = artifact.files()
        return str(Path(root) / files[0].path) if len(files) == 1 else root

    def link_model(
        self,
        path: str | os.PathLike[str],
        registered_model_name: str,
        name: str | None = None,
        aliases: list[str] | None = None,
    ) -> Artifact:
        """Log a model (if its content is new) and link it into the model registry's collection
        ``registered_model_name`` (created on first use); ``latest`` always follows."""
        artifact = self.log_model(path, name=name)
        target = (
            registered_model_name
            if "/" in registered_model_name
            else names.registry_ref("model", registered_model_name)
        )
        return self.link_artifact(artifact, target, aliases=aliases)

    def link_artifact(
        self, artifact: Artifact, target_path: str, aliases: list[str] | None = None
    ) -> Artifact:
        """Link an artifact version (logged first if it is a draft) into a registry
        collection: ``wandb-registry-model/NAME``, ``model-registry/NAME``, or a bare
        ``NAME``, which means the model registry (W&B's older Model Registry took those).

        Offline, the link is journaled after the artifact, and ``modelbay sync`` makes it
        once the version is uploaded; the draft is returned."""
        if "/" not in target_path and not target_path.startswith("models:"):
            target_path = names.registry_ref("model", target_path)
        parse_target(target_path)
        if self.offline and artifact._version is None:
            if artifact._client_id is None:
                self.log_artifact(artifact)
            assert self._sender is not None
            link = {
                "client_id": artifact._client_id,
                "target": target_path,
                "aliases": names.check_aliases(aliases),
            }
            self._sender.record("link", link)
            return artifact
        if not artifact.is_link and artifact._version is None:
            self.log_artifact(artifact)
        return artifact.link(target_path, aliases=aliases)

    def save(
        self,
        glob_str: str | os.PathLike[str] | None = None,
        base_path: str | os.PathLike[str] | None = None,
        policy: str = "live",
    ) -> bool | list[str]:
        """W&B's ``save``: keep files with the run. modelbay keeps them as a version of the
        artifact ``run-<id>-files`` (type ``run-files``), logged at once whatever the
        ``policy``: a run's files are then versioned, deduplicated and downloadable like any
        artifact's. Paths inside it are relative to ``base_path`` (default: the glob's
        directory). Returns the paths saved (False when ``glob_str`` is None, as in W&B).

        Raises:
            InvalidInputError: ``policy`` is not "live", "now" or "end", or a file
                matched is not under ``base_path``.
        """
        from modelbay.sdk.run_files import files_artifact

        if glob_str is None:
            return False
        artifact, saved = files_artifact(self.id, glob_str, base_path, policy)
        if artifact is not None and self._transport is not None:
            self.log_artifact(artifact)
        return saved

    def logged_artifacts(self) -> list[Artifact]:
        return self._artifacts("logged")

    def used_artifacts(self) -> list[Artifact]:
        return self._artifacts("used")

    def _artifacts(self, direction: str) -> list[Artifact]:
        transport = self._online(f"{direction}_artifacts")
        request = rq.RunArtifactsQuery(
            project=self.project,
            run_id=self.id,
            direction=direction,  # type: ignore[arg-type]  # checked by the model
        )
        versions = transport.call(ops.RUN_ARTIFACTS, request).versions
        return [Artifact._from_version(transport, v) for v in versions]

    def __repr__(self) -> str:
        return f"<Run {self.path} name={self.name}>"


def log(
    data: Mapping[str, Any] | None = None, step: int | None = None, commit: bool | None = None
) -> None:
    """``modelbay.log``: log to the current run.

    Raises:
        InvalidInputError: no active run.
    """
    current = current_run()
    current.log(data, step=step, commit=commit)


def finish(exit_code: int = 0) -> None:
    """``modelbay.finish``: finish the current run, if any."""
    import modelbay

    current = getattr(modelbay, "run", None)
    if isinstance(current, Run):
        current.finish(exit_code)


def current_run() -> Run:
    """The current run (``modelbay.run``).

    Raises:
        InvalidInputError: no active run.
    """
    import modelbay

    current = getattr(modelbay, "run", None)
    if not isinstance(current, Run):
        raise InvalidInputError("no active run: call modelbay.init() first")
    return current


def __getattr__(name: str) -> Any:
    # ``init`` lives with the other module-level calls (sdk/session.py, which imports this
    # module); it stays importable from here, as before.
    if name == "init":
        from modelbay.sdk.session import init

        return init
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
