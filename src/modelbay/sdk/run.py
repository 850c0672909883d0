"""``init`` and ``Run``: one execution of a training script, with W&B's names and meanings."""

from __future__ import annotations

import atexit
import os
import platform
import socket
import subprocess
import sys
import threading
import time
import warnings
from collections.abc import Mapping
from pathlib import Path
from types import TracebackType
from typing import Any

from modelbay import names
from modelbay.errors import InvalidInputError, ModelbayError
from modelbay.sdk.artifact import Artifact, parse_target
from modelbay.sdk.transport import Info, Transport, connect
from modelbay.settings import Settings

DEFAULT_PROJECT = "uncategorized"
FLUSH_SECONDS = 1.0
MAX_BATCH = 10_000


class _Tracked(dict[str, Any]):
    """A dict that notes when it changes, so that the run sends only what changed."""

    def __init__(self, data: Mapping[str, Any] | None = None) -> None:
        super().__init__(data or {})
        self.dirty = False

    def __setitem__(self, key: str, value: Any) -> None:
        super().__setitem__(key, value)
        self.dirty = True

    def __delitem__(self, key: str) -> None:
        super().__delitem__(key)
        self.dirty = True

    def update(self, *args: Any, **kwargs: Any) -> None:
        super().update(*args, **kwargs)
        self.dirty = True

    def setdefault(self, key: str, default: Any = None) -> Any:
        if key not in self:
            self.dirty = True
        return super().setdefault(key, default)

    def pop(self, key: str, *default: Any) -> Any:
        if key in self:
            self.dirty = True
        return super().pop(key, *default)

    def __getattr__(self, key: str) -> Any:
        try:
            return self[key]
        except KeyError:
            raise AttributeError(key) from None

    def __setattr__(self, key: str, value: Any) -> None:
        if key == "dirty":
            object.__setattr__(self, key, value)
        else:
            self[key] = value


class Config(_Tracked):
    """``run.config``: hyperparameters; item or attribute access; edits are persisted."""


class Summary(_Tracked):
    """``run.summary``: the last logged value of each key unless set by hand; persisted."""


def _flatten(data: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in data.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            out.update(_flatten(value, name + "/"))
        else:
            out[name] = value
    return out


def system_facts() -> dict[str, Any]:
    """Host, Python, platform, command line and git state, recorded at ``init``."""
    facts: dict[str, Any] = {
        "host": socket.gethostname(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "executable": sys.executable,
        "argv": list(sys.argv),
        "cwd": os.getcwd(),
        "pid": os.getpid(),
    }
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "HEAD"], capture_output=True, text=True, timeout=2, check=False
        )
        if commit.returncode == 0:
            facts["git_commit"] = commit.stdout.strip()
            status = subprocess.run(
                ["git", "status", "--porcelain", "--untracked-files=no"],
                capture_output=True,
                text=True,
                timeout=2,
                check=False,
            )
            facts["git_dirty"] = bool(status.stdout.strip())
    except (OSError, subprocess.TimeoutExpired):
        pass
    return facts


class Run:
    """One execution of a script. Use :func:`modelbay.init` to make one."""

    def __init__(
        self, transport: Transport, info: Info, settings: Settings, dir: str | None = None
    ) -> None:
        self._transport = transport
        self._settings = settings
        self._info = info
        self.id: str = info["id"]
        self.project: str = info["project"]
        self.name: str = info["name"]
        self.dir = dir
        self.config = Config(info.get("config") or {})
        self.summary = Summary(info.get("summary") or {})
        last = info.get("last_step")
        self._step = 0 if last is None else int(last) + 1
        self._pending: dict[str, Any] = {}
        self._queue: list[Info] = []
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._finished = False
        self._warned: set[str] = set()
        self._send_error: ModelbayError | None = None
        self._sender = threading.Thread(
            target=self._send_loop, name=f"modelbay-sender-{self.id}", daemon=True
        )
        self._sender.start()
        atexit.register(self._atexit)

    # -- identity -------------------------------------------------------------------------------

    @property
    def path(self) -> str:
        return f"{self.project}/{self.id}"

    @property
    def url(self) -> str | None:
        """The run's page when talking to a server; None when embedded."""
        url = self._transport.url
        return f"{url}/projects/{self.project}/runs/{self.id}" if url else None

    @property
    def step(self) -> int:
        return self._step

    # -- metrics --------------------------------------------------------------------------------

    def log(self, data: Mapping[str, Any], step: int | None = None, commit: bool = True) -> None:
        """Record values at a step; returns at once (a background sender writes them).

        ``step`` increments per committed call unless given; ``commit=False`` merges into the
        next step. A step lower than the current one is refused with a warning.
        """
        if self._finished:
            raise InvalidInputError(f"run {self.path} is finished; start a new one with init()")
        if not isinstance(data, Mapping):
            raise InvalidInputError("run.log takes a dict of values")
        if step is not None:
            if not isinstance(step, int) or step < 0:
                self._warn_once("step", f"run.log: ignoring invalid step {step!r}")
                return
            if step < self._step:
                self._warn_once(
                    f"step<{step}",
                    f"run.log: step {step} is lower than the current step {self._step}; values dropped",
                )
                return
            if step > self._step:
                self._commit_pending()
                self._step = step
        for key, value in _flatten(data).items():
            if value is None:
                continue
            if isinstance(value, bool | int | float):
                self._pending[key] = value
                self.summary[key] = value
            else:
                self._warn_once(
                    f"type:{key}",
                    f"run.log: {key!r} has a value of type {type(value).__name__}, which is not stored "
                    "in the history (numbers and bools are)",
                )
        if commit:
            self._commit_pending()

    def _commit_pending(self) -> None:
        if not self._pending:
            return
        point = {"step": self._step, "time": time.time(), "values": self._pending}
        self._pending = {}
        self._step += 1
        with self._lock:
            self._queue.append(point)
            if len(self._queue) >= MAX_BATCH:
                self._wake.set()

    def _warn_once(self, key: str, message: str) -> None:
        if key not in self._warned:
            self._warned.add(key)
            warnings.warn(message, stacklevel=3)

    def _send_loop(self) -> None:
        while not self._finished:
            self._wake.wait(FLUSH_SECONDS)
            self._wake.clear()
            try:
                self._flush()
            except ModelbayError as exc:  # keep the points; try again next interval
                self._send_error = exc

    def _flush(self) -> None:
        with self._lock:
            batch, self._queue = self._queue, []
        try:
            if batch:
                self._transport.call(
                    "log_history", project=self.project, run_id=self.id, points=batch
                )
            if self.config.dirty or self.summary.dirty:
                fields: dict[str, Any] = {}
                if self.config.dirty:
                    self.config.dirty = False
                    fields["config"] = dict(self.config)
                if self.summary.dirty:
                    self.summary.dirty = False
                    fields["summary"] = dict(self.summary)
                self._transport.call("update_run", project=self.project, run_id=self.id, **fields)
        except ModelbayError:
            with self._lock:
                self._queue = batch + self._queue
            raise

    # -- lifecycle ------------------------------------------------------------------------------

    def finish(self, exit_code: int = 0) -> None:
        """Flush everything and mark the run finished (``failed`` for a non-zero exit code)."""
        if self._finished:
            return
        self._commit_pending()
        self._finished = True
        self._wake.set()
        self._sender.join(timeout=10)
        self.config.dirty = True
        self.summary.dirty = True
        self._flush()
        state = "finished" if exit_code == 0 else "failed"
        self._transport.call(
            "update_run", project=self.project, run_id=self.id, state=state, exit_code=exit_code
        )
        atexit.unregister(self._atexit)
        import modelbay

        if getattr(modelbay, "run", None) is self:
            modelbay.run = None

    def _atexit(self) -> None:
        try:
            self.finish(exit_code=0)
        except ModelbayError as exc:
            print(f"modelbay: could not finish run {self.path}: {exc.message}", file=sys.stderr)

    def __enter__(self) -> Run:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.finish(exit_code=0 if exc_type is None else 1)

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
        and a line says so.
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
        created = artifact._log(
            self._transport, self.project, self.id, names.check_aliases(aliases)
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
        info = self._transport.call("use", ref=str(parsed), project=self.project, run_id=self.id)
        if type is not None and info["type"] != type:
            raise InvalidInputError(f"{ref} has type {info['type']!r}, not {type!r}")
        return Artifact._from_info(self._transport, info)

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
            else f"model-registry/{registered_model_name}"
        )
        return self.link_artifact(artifact, target, aliases=aliases)

    def link_artifact(
        self, artifact: Artifact, target_path: str, aliases: list[str] | None = None
    ) -> Artifact:
        """Link a logged artifact version into a registry collection (``model-registry/NAME``)."""
        parse_target(target_path)
        if not artifact.is_link and artifact._info is None:
            self.log_artifact(artifact)
        return artifact.link(target_path, aliases=aliases)

    def logged_artifacts(self) -> list[Artifact]:
        return [
            Artifact._from_info(self._transport, i)
            for i in self._transport.call(
                "run_artifacts", project=self.project, run_id=self.id, direction="logged"
            )
        ]

    def used_artifacts(self) -> list[Artifact]:
        return [
            Artifact._from_info(self._transport, i)
            for i in self._transport.call(
                "run_artifacts", project=self.project, run_id=self.id, direction="used"
            )
        ]

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
    dir: str | None = None,
    id: str | None = None,
    resume: str | bool | None = None,
    settings: Settings | None = None,
) -> Run:
    """Start a run (embedded, or against ``MODELBAY_URL`` when set) and make it ``modelbay.run``.

    Raises:
        InvalidInputError, InvalidNameError: bad arguments.
        AlreadyExistsError: ``id`` exists and ``resume`` does not allow continuing it.
    """
    import modelbay

    if mode not in (None, "online"):
        raise InvalidInputError(
            f"mode={mode!r} is not supported yet; use the default (online, or embedded with no server)"
        )
    if resume is True:
        resume = "allow"
    elif resume is False:
        resume = None
    settings = settings or Settings.from_env()
    project = names.check_project(project or os.environ.get("MODELBAY_PROJECT") or DEFAULT_PROJECT)
    transport = connect(settings)
    info = transport.call(
        "create_run",
        project=project,
        id=id,
        name=name,
        config=_flatten_config(config),
        tags=tags,
        notes=notes,
        job_type=job_type,
        resume=resume,
        system=system_facts(),
    )
    current = getattr(modelbay, "run", None)
    if isinstance(current, Run) and not current._finished:
        current.finish()
    run = Run(transport, info, settings, dir=dir)
    modelbay.run = run
    return run


def _flatten_config(config: Mapping[str, Any] | None) -> dict[str, Any] | None:
    if config is None:
        return None
    if not isinstance(config, Mapping):
        # argparse.Namespace and similar objects carry their values in __dict__.
        config = vars(config)
    return dict(config)


def log(data: Mapping[str, Any], step: int | None = None, commit: bool = True) -> None:
    """``modelbay.log``: log to the current run."""
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
