"""The calls a W&B script makes on the module: ``init``, ``login``, ``define_metric``,
``log_artifact``, ``use_artifact``, ``log_model``, ``use_model``, ``link_model``, ``save``.

Each module-level call acts on the current run (``modelbay.run``), as W&B's do; the
artifact calls start a run when there is none (W&B does the same for ``use_artifact``
outside a run, through its public API).

An *entity* in W&B is the user or team that owns a project. modelbay has one organisation
and one namespace of projects, so an entity qualifies nothing: ``init(entity=...)`` is kept
with the run (``run.entity``, and in its facts), and every reference W&B accepts with an
entity (``entity/project/name:alias``) resolves to the same version as without it.
``run.entity`` defaults to the user the run is logged as.
"""

from __future__ import annotations

import os
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from modelbay import names
from modelbay.contract import operations as ops
from modelbay.contract import requests as rq
from modelbay.errors import AlreadyExistsError, InvalidInputError, NotFoundError, TransportError
from modelbay.jsontext import Info
from modelbay.sdk import wandb_settings
from modelbay.sdk.artifact import Artifact
from modelbay.sdk.journal_sync import sync_run
from modelbay.sdk.metric_defs import Metric
from modelbay.sdk.run import DEFAULT_PROJECT, MODES, Run, current_run
from modelbay.sdk.run_config import RunSettings, printable
from modelbay.sdk.spool import Journal
from modelbay.sdk.system import facts_in_background, system_facts
from modelbay.sdk.transport import connect
from modelbay.sdk.wandb_settings import Settings as WandbSettings
from modelbay.settings import Settings

#: W&B's other names for the modes.
MODE_ALIASES = {"dryrun": "offline", "run": "online", "shared": "online"}


def _env(name: str) -> str | None:
    """``MODELBAY_<name>``, else W&B's ``WANDB_<name>`` (scripts set those)."""
    return os.environ.get(f"MODELBAY_{name}") or os.environ.get(f"WANDB_{name}") or None


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
    settings: Settings | WandbSettings | Mapping[str, Any] | None = None,
    run_settings: RunSettings | None = None,
    *,
    entity: str | None = None,
    group: str | None = None,
    reinit: bool | str | None = None,
    save_code: bool | None = None,
    anonymous: str | None = None,
    allow_val_change: bool | None = None,
    config_exclude_keys: list[str] | None = None,
    config_include_keys: list[str] | None = None,
    sync_tensorboard: bool | None = None,
    monitor_gym: bool | None = None,
    magic: Any = None,
) -> Run:
    """Start a run and make it ``modelbay.run``.

    ``mode`` (default ``$MODELBAY_MODE`` or "online"): "online" logs embedded, or to
    ``MODELBAY_URL`` when set; "offline" writes the whole run to its local directory, for
    ``modelbay sync`` to upload later; "disabled" accepts every call and keeps nothing.
    Each run journals to ``DIR/runs/<project>/<id>/`` (``dir`` defaults to the data
    directory, ``$MODELBAY_DIR``). ``resume`` "allow" or "must" continues the run ``id``:
    its steps go on from the last one stored, and points a killed process left unsent in
    the local journal are sent first.

    ``entity`` and ``group`` are kept with the run (see the module docstring). Each
    argument left out is read from ``MODELBAY_<NAME>`` or W&B's ``WANDB_<NAME>``
    (``PROJECT``, ``ENTITY``, ``RUN_GROUP``, ``JOB_TYPE``, ``MODE``, ``RUN_ID``, ``RESUME``,
    ``NAME``, ``NOTES``, and ``TAGS`` as a comma-separated list).
    ``reinit`` as in W&B: by default a new ``init`` finishes the current run;
    ``"create_new"`` leaves it running and does not make the new run current;
    ``"return_previous"`` returns the current run. ``save_code``, ``anonymous``,
    ``allow_val_change``, ``sync_tensorboard``, ``monitor_gym`` and ``magic`` are accepted
    and change nothing: config values may always change, and no code or TensorBoard files
    are uploaded. ``config_exclude_keys`` and ``config_include_keys``
    filter ``config`` as in W&B.

    ``settings`` may be W&B's ``wandb.Settings`` (or a dict of them), over those of
    ``wandb.setup``: see :mod:`modelbay.sdk.wandb_settings` for the ones that apply.

    On a terminal, prints where to view the run (quiet under ``MODELBAY_SILENT`` or
    ``WANDB_SILENT``, or W&B's ``silent``/``quiet`` setting).

    Raises:
        InvalidInputError, InvalidNameError: bad arguments.
        AlreadyExistsError: ``id`` exists and ``resume`` does not allow continuing it.
        NotFoundError: ``resume="must"`` and no run ``id``.
        ConflictError: another live process is logging the run ``id``.
        TransportError: online, and the server cannot be reached (use mode="offline").
    """
    import modelbay

    quiet = False
    if not isinstance(settings, Settings):
        wb = wandb_settings.resolve(settings)
        args = wandb_settings.fill(
            wb, mode=mode, project=project, entity=entity, id=id, name=name, group=group,
            job_type=job_type, tags=tags, notes=notes, resume=resume, reinit=reinit, dir=dir,
        )  # fmt: skip
        mode, project, entity, id, name = (
            args[k] for k in ("mode", "project", "entity", "id", "name")
        )
        group, job_type, tags, notes = (args[k] for k in ("group", "job_type", "tags", "notes"))
        resume, reinit, dir = args["resume"], args["reinit"], args["dir"]
        settings = wandb_settings.connection(wb, Settings.from_env())
        quiet = wandb_settings.quiet(wb)
    mode = mode or _env("MODE") or "online"
    mode = MODE_ALIASES.get(mode, mode)
    if mode not in MODES:
        raise InvalidInputError(f"mode must be one of {', '.join(MODES)}; not {mode!r}")
    resume = resume if resume is not None else _env("RESUME")
    id = id or _env("RUN_ID")
    if resume is True:
        resume = "allow"
    elif resume is False:
        resume = None
    if resume not in (None, "never", "allow", "must"):
        raise InvalidInputError(f"resume must be 'allow', 'must' or 'never'; not {resume!r}")
    settings = settings or Settings.from_env()
    run_settings = run_settings or RunSettings.from_env()
    project = names.check_project(project or _env("PROJECT") or DEFAULT_PROJECT)
    if id is not None:
        names.check_name(id, "run id")
    job_type = job_type or _env("JOB_TYPE")
    name = name if name is not None else _env("NAME")
    notes = notes if notes is not None else _env("NOTES")
    if tags is None and _env("TAGS"):
        tags = [t.strip() for t in (_env("TAGS") or "").split(",") if t.strip()]
    fields: Info = {
        "name": names.check_label(name, "run name") if name is not None else None,
        "config": _filter_config(_flatten_config(config), config_include_keys, config_exclude_keys),
        "tags": names.check_tags(tags),
        "notes": names.check_description(notes),
        "job_type": names.check_label(job_type, "job type") if job_type is not None else None,
    }
    labels = _labels(entity or _env("ENTITY"), group or _env("RUN_GROUP"))
    base = Path(dir).expanduser() if dir is not None else settings.data_dir
    current = getattr(modelbay, "run", None)
    live = isinstance(current, Run) and not current._finished
    reinit = reinit if reinit is not None else _env("REINIT")
    if live and reinit == "return_previous":
        return current  # type: ignore[return-value]
    if live and reinit != "create_new":
        current.finish()  # type: ignore[union-attr]
    if mode == "disabled":
        run_id = id or names.new_run_id()
        info = {"id": run_id, "project": project, "name": fields["name"] or run_id, **fields}
        run = Run(info, transport=None, journal=None, run_settings=run_settings, mode=mode)
    elif mode == "offline":
        run = _init_offline(project, id, resume, fields, labels, base, run_settings)
    else:
        run = _init_online(project, id, resume, fields, labels, base, settings, run_settings)
    run._labels(labels.get("entity"), labels.get("group"), settings.user)
    if not (live and reinit == "create_new"):
        # As in W&B, a run made beside a live one (reinit="create_new") is not the
        # module's current run: the caller holds it.
        modelbay.run = run
    run._quiet = quiet
    run._announce("started")
    return run


def _labels(entity: str | None, group: str | None) -> dict[str, str]:
    """The entity and group, as kept in the run's facts."""
    out = {}
    if entity is not None:
        out["entity"] = names.check_label(entity, "entity")
    if group is not None:
        out["group"] = names.check_label(group, "group")
    return out


def _filter_config(
    config: dict[str, Any] | None, include: list[str] | None, exclude: list[str] | None
) -> dict[str, Any] | None:
    if config is None or (include is None and exclude is None):
        return config
    return {
        k: v
        for k, v in config.items()
        if (include is None or k in include) and (exclude is None or k not in exclude)
    }


def _run_record(
    project: str, run_id: str, fields: Info, labels: dict[str, str], offline: bool
) -> Info:
    return {
        "project": project,
        "id": run_id,
        **fields,
        "system": {**system_facts(), **labels},
        "started_at": time.time(),
        "offline": offline,
    }


def _init_offline(
    project: str,
    run_id: str | None,
    resume: str | None,
    fields: Info,
    labels: dict[str, str],
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
        journal.append([_line("run", _run_record(project, run_id, fields, labels, True))])
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
    labels: dict[str, str],
    base: Path,
    settings: Settings,
    run_settings: RunSettings,
) -> Run:
    facts = facts_in_background()
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
                group=labels.get("group"),
                system={**facts(), **{k: v for k, v in labels.items() if k != "group"}},
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
        record = _run_record(project, info["id"], {**fields, "name": info["name"]}, labels, False)
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


def login(
    key: str | None = None,
    relogin: bool | None = None,
    host: str | None = None,
    force: bool | None = None,
    timeout: int | None = None,
    verify: bool = False,
    anonymous: str | None = None,
) -> bool:
    """W&B's ``login``: with ``key`` (and ``host``), later calls use that key (and server)
    for this process, as ``MODELBAY_API_KEY`` and ``MODELBAY_URL`` would; without them,
    the environment's settings stand. Returns True. Nothing is written to disk: keys
    belong in the environment or a secret store, not in a file W&B's ``.netrc`` left.

    With ``verify``, the key is checked against the server at once.

    Raises:
        AuthenticationError: ``verify`` and the server refused the key.
        TransportError: ``verify`` and the server cannot be reached.
    """
    if key is not None:
        os.environ["MODELBAY_API_KEY"] = key
    if host is not None:
        os.environ["MODELBAY_URL"] = host.rstrip("/")
    if key is not None or host is not None:
        from modelbay.sdk.transport import reset_transports

        reset_transports()
    if verify:
        connect(Settings.from_env()).call(ops.WHOAMI, rq.NoArgs())
    return True


def define_metric(
    name: str,
    step_metric: str | Metric | None = None,
    step_sync: bool | None = None,
    hidden: bool | None = None,
    summary: str | None = None,
    goal: str | None = None,
    overwrite: bool | None = None,
) -> Metric:
    """``wandb.define_metric``: :meth:`Run.define_metric` on the current run.

    Raises:
        InvalidInputError: no active run, or a bad argument.
    """
    return current_run().define_metric(
        name, step_metric, step_sync, hidden, summary, goal, overwrite
    )


def _run_for_artifacts() -> Run:
    """The current run; W&B's module-level artifact calls work outside one too, so one is
    started (``init()``'s defaults) when there is none."""
    import modelbay

    current = getattr(modelbay, "run", None)
    if isinstance(current, Run) and not current._finished:
        return current
    return init()


def log_artifact(
    artifact_or_path: Artifact | str | os.PathLike[str],
    name: str | None = None,
    type: str | None = None,
    aliases: list[str] | None = None,
    tags: list[str] | None = None,
) -> Artifact:
    """``wandb.log_artifact``: :meth:`Run.log_artifact` on the current run."""
    return _run_for_artifacts().log_artifact(artifact_or_path, name, type, aliases, tags)


def use_artifact(
    artifact_or_name: Artifact | str,
    type: str | None = None,
    aliases: list[str] | None = None,
    use_as: str | None = None,
) -> Artifact:
    """``wandb.use_artifact``: :meth:`Run.use_artifact` on the current run."""
    return _run_for_artifacts().use_artifact(artifact_or_name, type, aliases, use_as)


def log_model(
    path: str | os.PathLike[str], name: str | None = None, aliases: list[str] | None = None
) -> Artifact:
    """``wandb.log_model``: :meth:`Run.log_model` on the current run."""
    return _run_for_artifacts().log_model(path, name, aliases)


def use_model(name: str) -> str:
    """``wandb.use_model``: :meth:`Run.use_model` on the current run."""
    return _run_for_artifacts().use_model(name)


def link_model(
    path: str | os.PathLike[str],
    registered_model_name: str,
    name: str | None = None,
    aliases: list[str] | None = None,
) -> Artifact:
    """``wandb.link_model``: :meth:`Run.link_model` on the current run."""
    return _run_for_artifacts().link_model(path, registered_model_name, name, aliases)


def save(
    glob_str: str | os.PathLike[str] | None = None,
    base_path: str | os.PathLike[str] | None = None,
    policy: str = "live",
) -> bool | list[str]:
    """``wandb.save``: :meth:`Run.save` on the current run.

    Raises:
        InvalidInputError: no active run.
    """
    return current_run().save(glob_str, base_path, policy)
