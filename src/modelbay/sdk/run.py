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

from modelbay import names
from modelbay.contract import operations as ops
from modelbay.contract import requests as rq
from modelbay.errors import (
    AlreadyExistsError,
    InvalidInputError,
    ModelbayError,
    NotFoundError,
    TransportError,
)
from modelbay.sdk.artifact import Artifact, parse_target
from modelbay.sdk.media import Histogram, Image, ImageGroup, Media
from modelbay.sdk.offline import CLIENT_SCHEME, run_media, stage
from modelbay.sdk.run_config import Config, RunSettings, Summary, printable
from modelbay.sdk.spool import Journal, Point, Sender, Uploader, sync_run
from modelbay.sdk.system import SystemMonitor, system_facts
from modelbay.sdk.transport import Info, Transport, connect
from modelbay.settings import Settings

DEFAULT_PROJECT = "uncategorized"
MODES = ("online", "offline", "disabled")
MAX_KEY_CHARS = 256
_NUMBER = frozenset((float, int, bool))

__all__ = ["Config", "Run", "RunSettings", "Summary", "finish", "init", "log", "system_facts"]


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


class Run:
    """One execution of a script. Use :func:`modelbay.init` to make one."""

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
        """The run's page when talking to a server; None when embedded or offline."""
        url = self._transport.url if self._transport is not None else None
        return f"{url}/projects/{self.project}/runs/{self.id}" if url else None

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
        self, data: Mapping[str, Any], step: int | None = None, commit: bool | None = None
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
                items = data.items()
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
    ) -> Artifact:
        """Log an artifact (or a file or directory path) as a new version of it.

        Content equal to a live version creates nothing new; the existing version is returned
        and a line says so. Offline, the files are kept in the run's directory and the draft
        is returned; ``modelbay sync`` uploads them, in order with the run's other records.
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

    def use_artifact(self, artifact_or_name: Artifact | str, type: str | None = None) -> Artifact:
        """Record that this run uses a version and return it (``name``, ``project/name:alias``,
        or a registry reference such as ``model-registry/MNIST:production``)."""
        ref = (
            artifact_or_name.qualified_name
            if isinstance(artifact_or_name, Artifact)
            else artifact_or_name
        )
        parsed = names.parse_ref(ref, default_project=self.project)
        transport = self._online("use_artifact")
        request = rq.Use(ref=str(parsed), project=self.project, run_id=self.id)
        version = transport.call(ops.USE, request)
        if type is not None and version.type != type:
            raise InvalidInputError(f"{ref} has type {version.type!r}, not {type!r}")
        return Artifact._from_version(transport, version)

    def log_model(
        self,
        path: str | os.PathLike[str],
        name: str | None = None,
        aliases: list[str] | None = None,
    ) -> Artifact:
        """Log a model file or directory as an artifact of type ``model``."""
        p = Path(path)
        artifact = Artifact(name or f"run-{self.id}-{p.name}", "model")
        if p.is_dir():
            artifact.add_dir(p)
        else:
            artifact.add_file(p)
        return self.log_artifact(artifact, aliases=aliases)

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
        """Link a logged artifact version into a registry collection (``model-registry/NAME``).

        Offline, the link is journaled after the artifact, and ``modelbay sync`` makes it
        once the version is uploaded; the draft is returned."""
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


def init(
    project: str | None = None,
    name: str | None = None,
    config: Mapping[str, Any] | None = None,
    tags: list[str] | None = None,
    notes: str | None = None,
    job_type: str | None = None,
    mode: str | None = None,
    dir: str | os.PathLike[str] | None = None,
    id: str | None = None,
    resume: str | bool | None = None,
    settings: Settings | None = None,
    run_settings: RunSettings | None = None,
) -> Run:
    """Start a run and make it ``modelbay.run``.

    ``mode`` (default ``$MODELBAY_MODE`` or "online"): "online" logs embedded, or to
    ``MODELBAY_URL`` when set; "offline" writes the whole run to its local directory, for
    ``modelbay sync`` to upload later; "disabled" accepts every call and keeps nothing.
    Each run journals to ``DIR/runs/<project>/<id>/`` (``dir`` defaults to the data
    directory, ``$MODELBAY_DIR``). ``resume`` "allow" or "must" continues the run ``id``:
    its steps go on from the last one stored, and points a killed process left unsent in
    the local journal are sent first.

    Raises:
        InvalidInputError, InvalidNameError: bad arguments.
        AlreadyExistsError: ``id`` exists and ``resume`` does not allow continuing it.
        NotFoundError: ``resume="must"`` and no run ``id``.
        ConflictError: another live process is logging the run ``id``.
        TransportError: online, and the server cannot be reached (use mode="offline").
    """
    import modelbay

    mode = mode or os.environ.get("MODELBAY_MODE") or "online"
    if mode not in MODES:
        raise InvalidInputError(f"mode must be one of {', '.join(MODES)}; not {mode!r}")
    if resume is True:
        resume = "allow"
    elif resume is False:
        resume = None
    if resume not in (None, "never", "allow", "must"):
        raise InvalidInputError(f"resume must be 'allow', 'must' or 'never'; not {resume!r}")
    settings = settings or Settings.from_env()
    run_settings = run_settings or RunSettings.from_env()
    project = names.check_project(project or os.environ.get("MODELBAY_PROJECT") or DEFAULT_PROJECT)
    if id is not None:
        names.check_name(id, "run id")
    fields: Info = {
        "name": names.check_name(name, "run name") if name is not None else None,
        "config": _flatten_config(config),
        "tags": names.check_tags(tags),
        "notes": names.check_description(notes),
        "job_type": names.check_name(job_type, "job type") if job_type is not None else None,
    }
    base = Path(dir).expanduser() if dir is not None else settings.data_dir
    current = getattr(modelbay, "run", None)
    if isinstance(current, Run) and not current._finished:
        current.finish()
    if mode == "disabled":
        run_id = id or names.new_run_id()
        info = {"id": run_id, "project": project, "name": fields["name"] or run_id, **fields}
        run = Run(info, transport=None, journal=None, run_settings=run_settings, mode=mode)
    elif mode == "offline":
        run = _init_offline(project, id, resume, fields, base, run_settings)
    else:
        run = _init_online(project, id, resume, fields, base, settings, run_settings)
    modelbay.run = run
    return run


def _run_record(project: str, run_id: str, fields: Info, offline: bool) -> Info:
    return {
        "project": project,
        "id": run_id,
        **fields,
        "system": system_facts(),
        "started_at": time.time(),
        "offline": offline,
    }


def _init_offline(
    project: str,
    run_id: str | None,
    resume: str | None,
    fields: Info,
    base: Path,
    run_settings: RunSettings,
) -> Run:
    run_id = run_id or names.new_run_id()
    journal = Journal(base / "runs" / project / run_id)
    try:
        last_step: int | None = None
        config: dict[str, Any] = dict(fields["config"] or {})
        summary: dict[str, Any] = {}
        name = fields["name"]
        if journal.size:
            if resume not in ("allow", "must"):
                raise AlreadyExistsError(
                    f"offline run {project}/{run_id} exists in {journal.dir}; pass "
                    "resume='allow' to continue it"
                )
            for record in journal.records():
                if record.kind == "run":
                    name = name or record.payload.get("name")
                    config = {**(record.payload.get("config") or {}), **config}
                elif record.kind == "points" and record.payload:
                    step = max(p[0] for p in record.payload)
                    last_step = step if last_step is None else max(last_step, step)
                elif record.kind == "update":
                    summary = record.payload.get("summary", summary)
                    config = {**record.payload.get("config", {}), **config}
        elif resume == "must":
            raise NotFoundError(f"offline run {project}/{run_id} not found in {journal.dir}")
        fields = {**fields, "name": name or names.new_run_name(run_id), "config": config}
        journal.append([_line("run", _run_record(project, run_id, fields, True))])
        journal.sync()
    except BaseException:
        journal.close()
        raise
    info = {"id": run_id, "project": project, **fields, "summary": summary, "last_step": last_step}
    return Run(info, transport=None, journal=journal, run_settings=run_settings, mode="offline")


def _init_online(
    project: str,
    run_id: str | None,
    resume: str | None,
    fields: Info,
    base: Path,
    settings: Settings,
    run_settings: RunSettings,
) -> Run:
    transport = connect(settings)
    journal = Journal(base / "runs" / project / run_id) if run_id else None
    try:
        if journal is not None and journal.size and journal.sent < journal.size:
            # A process of this run died with records unsent: they go first, so that the
            # steps of the new process follow them.
            sync_run(transport, journal, mark_crashed=False)
        try:
            request = rq.RunCreate(
                project=project,
                id=run_id,
                resume=resume,  # type: ignore[arg-type]  # checked by the model
                system=system_facts(),
                **fields,
            )
            info = transport.call(ops.CREATE_RUN, request).model_dump()
        except TransportError as exc:
            raise TransportError(
                f"{exc.message}; to log without a server use init(mode='offline') and "
                "upload later with `modelbay sync`",
                exc.details,
            ) from exc
        if journal is None:
            journal = Journal(base / "runs" / project / info["id"])
        record = _run_record(project, info["id"], {**fields, "name": info["name"]}, False)
        journal.append([_line("run", record)])
        journal.sync()
        journal.set_sent(journal.size)  # the run record needs no sending: it was created
    except BaseException:
        if journal is not None:
            journal.close()
        raise
    return Run(info, transport=transport, journal=journal, run_settings=run_settings)


def _line(kind: str, payload: Any) -> bytes:
    import json

    return json.dumps({kind: payload}, separators=(",", ":"), default=str).encode() + b"\n"


def _flatten_config(config: Mapping[str, Any] | None) -> dict[str, Any] | None:
    if config is None:
        return None
    if not isinstance(config, Mapping):
        # argparse.Namespace and similar objects carry their values in __dict__.
        config = vars(config)
    return printable(dict(config))  # type: ignore[no-any-return]


def log(data: Mapping[str, Any], step: int | None = None, commit: bool | None = None) -> None:
    """``modelbay.log``: log to the current run.

    Raises:
        InvalidInputError: no active run.
    """
    current = _current()
    current.log(data, step=step, commit=commit)


def finish(exit_code: int = 0) -> None:
    """``modelbay.finish``: finish the current run, if any."""
    import modelbay

    current = getattr(modelbay, "run", None)
    if isinstance(current, Run):
        current.finish(exit_code)


def _current() -> Run:
    import modelbay

    current = getattr(modelbay, "run", None)
    if not isinstance(current, Run):
        raise InvalidInputError("no active run: call modelbay.init() first")
    return current
