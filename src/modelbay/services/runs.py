"""Runs: create or resume, update config and summary, record metric history, finish."""

from __future__ import annotations

import json
import math
from typing import Any

from modelbay import names
from modelbay.contract import metric_defs as definitions
from modelbay.contract.operations import Role
from modelbay.errors import AlreadyExistsError, InvalidInputError, NotFoundError
from modelbay.jsontext import Info
from modelbay.services import access, outbox
from modelbay.services import history_pages as pages
from modelbay.services.core import Principal, now, record, version_info
from modelbay.services.metric_axis import X_AXES, against, downsample, envelope
from modelbay.services.metric_axis import axis as _axis
from modelbay.settings import RUN_TIMEOUT
from modelbay.store import access as access_store
from modelbay.store import artifacts as artifact_store
from modelbay.store import runs as store
from modelbay.store import tags as tag_store
from modelbay.store.database import Database

STATES = ("running", "finished", "failed", "crashed")
RESUME = (None, "never", "allow", "must")
#: Values in one ``log`` call, and the largest ``max_points`` a history read takes.
MAX_POINTS = 100_000
MAX_KEY_CHARS = 256
#: Runs in one ``histories`` or ``summaries`` call, and keys in one history read.
MAX_RUNS = 100
MAX_KEYS = 1000
#: The fewest points a downsampled series may be cut to (one bucket: its min and max).
MIN_SAMPLES = 2
MAX_STEP = 2**62
#: How far in the future a run's given start time may lie (clock skew between machines).
CLOCK_SKEW = 300.0


def _json_safe(value: Any, field: str) -> Any:
    """Config and summary must survive JSON: NaN and infinity become strings."""
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, dict):
        return {str(k): _json_safe(v, field) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_safe(v, field) for v in value]
    if value is None or isinstance(value, str | int | float | bool):
        return value
    return str(value)


def run_info(row: dict[str, Any]) -> Info:
    return {
        "id": row["run_id"],
        "project": row["project"],
        "name": row["name"],
        "state": row["state"],
        "config": row["config"],
        "summary": row["summary"],
        "tags": row["tags"],
        "notes": row["notes"],
        "job_type": row["job_type"],
        "group": row["group"],
        "system": row["system"],
        "user": row["user"],
        "created_at": row["created_at"],
        "updated_at": row["updated_at"],
        "finished_at": row["finished_at"],
        "exit_code": row["exit_code"],
        "path": f"{row['project']}/{row['run_id']}",
        "metric_defs": row.get("metric_defs") or [],
    }


def crash_silent_runs(db: Database, timeout: float) -> int:
    """Mark ``crashed`` every running run not heard from for ``timeout`` seconds, each with a
    ``run.crashed`` event; returns how many. Called by every service that reads run states,
    before it reads, so that all readers (embedded or over HTTP, any replica) agree without a
    background job; a read finds nothing to do with one index probe and writes nothing.
    """
    t = now()
    cutoff = t - timeout
    with db.read() as conn:
        if not store.any_silent(conn, cutoff):
            return 0
    with db.write() as conn:
        crashed = store.crash_silent(conn, cutoff, t)
        for row in store.runs_by_pk(conn, crashed):
            record(
                conn,
                Principal(row["user_id"], row["user"]),
                "run.crashed",
                f"{row['project']}/{row['run_id']}",
                project_id=row["project_id"],
                run_pk=row["id"],
                before={"state": "running"},
                after={"state": "crashed", "heartbeat_at": row["heartbeat_at"]},
            )
    return len(crashed)


class RunService:
    def __init__(self, db: Database, *, run_timeout: float = RUN_TIMEOUT) -> None:
        self.db = db
        #: Seconds without a heartbeat after which a running run is crashed.
        self.run_timeout = run_timeout

    def crash_silent(self) -> int:
        """See :func:`crash_silent_runs`."""
        return crash_silent_runs(self.db, self.run_timeout)

    def create(
        self,
        principal: Principal,
        project: str,
        *,
        run_id: str | None = None,
        name: str | None = None,
        config: dict[str, Any] | None = None,
        tags: list[str] | None = None,
        notes: str | None = None,
        job_type: str | None = None,
        group: str | None = None,
        resume: str | None = None,
        system: dict[str, Any] | None = None,
        started_at: float | None = None,
    ) -> Info:
        """Start a run, or continue one (``resume`` "allow" or "must").

        ``group`` is W&B's run group; a ``"group"`` among the ``system`` facts (where
        older clients and offline journals put it) is taken as the group when none is given.

        ``started_at`` (seconds since the epoch) is when the run really began, for a run
        logged offline and uploaded later; it defaults to now.

        Raises:
            AlreadyExistsError: ``run_id`` exists and resume is not allowed.
            NotFoundError: resume "must" and no such run.
            InvalidInputError: bad names or values.
            PermissionDeniedError: ``system["entity"]`` names another user or a team the
                principal is not in (:func:`~modelbay.services.access.check_entity`).
        """
        project = names.check_project(project)
        if resume not in RESUME:
            raise InvalidInputError(f"resume must be one of allow, must, never; not {resume!r}")
        if run_id is not None:
            names.check_name(run_id, "run id")
        if name is not None:
            names.check_label(name, "run name")
        if job_type is not None:
            names.check_label(job_type, "job type")
        system = dict(system or {})
        given = system.pop("group", None)
        group = group if group is not None else given if isinstance(given, str) else None
        if group is not None:
            names.check_label(group, "group")
        tag_list = names.check_tags(tags)
        notes = names.check_description(notes, "notes")
        if config is not None and not isinstance(config, dict):
            raise InvalidInputError("config must be an object")
        t = now()
        if started_at is not None and (
            not isinstance(started_at, int | float)
            or isinstance(started_at, bool)
            or not 0 < started_at <= t + CLOCK_SKEW
        ):
            raise InvalidInputError("started_at must be a past time in seconds since the epoch")
        with self.db.write() as conn:
            access.check_entity(conn, principal, system.get("entity"))
            existed = access.may_write_project(conn, principal, project) is not None
            project_id = artifact_store.ensure_project(conn, project, t)
            if not existed:
                access_store.claim_project(conn, project_id, principal.user_id)
            existing = store.get_run(conn, project_id, run_id) if run_id else None
            if existing is not None:
                if resume not in ("allow", "must"):
                    raise AlreadyExistsError(
                        f"run {project}/{run_id} exists; pass resume='allow' to continue it"
                    )
                changes: dict[str, Any] = {
                    "state": "running",
                    "heartbeat_at": t,
                    "updated_at": t,
                    "finished_at": None,
                    "exit_code": None,
                }
                if config:
                    changes["config"] = {**existing["config"], **_json_safe(config, "config")}
                store.update_run(conn, existing["id"], **changes)
                record(
                    conn,
                    principal,
                    "run.resumed",
                    f"{project}/{run_id}",
                    project_id=project_id,
                    run_pk=existing["id"],
                )
                row = store.run_by_pk(conn, existing["id"])
            else:
                if resume == "must":
                    raise NotFoundError(f"run {project}/{run_id} not found, and resume='must'")
                run_id = run_id or names.new_run_id()
                run_pk = store.insert_run(
                    conn,
                    project_id=project_id,
                    run_id=run_id,
                    name=name or names.new_run_name(run_id),
                    state="running",
                    config=_json_safe(config or {}, "config"),
                    summary={},
                    tags=tag_list,
                    notes=notes,
                    job_type=job_type,
                    group=group,
                    system=_json_safe(system, "system"),
                    user_id=principal.user_id,
                    created_at=float(started_at) if started_at is not None else t,
                    updated_at=t,
                    heartbeat_at=t,
                )
                record(
                    conn,
                    principal,
                    "run.created",
                    f"{project}/{run_id}",
                    project_id=project_id,
                    run_pk=run_pk,
                )
                row = store.run_by_pk(conn, run_pk)
            assert row is not None
            info = run_info(row)
            info["last_step"] = store.max_step(conn, row["id"])
            return info

    def _run(
        self,
        conn: Any,
        principal: Principal,
        project: str,
        run_id: str,
        needed: Role = Role.RESTRICTED_VIEWER,
    ) -> dict[str, Any]:
        """The run's row, when the principal holds ``needed`` in its project (an unreadable
        project is not found)."""
        pid = access.require_project(conn, principal, project, needed)["id"]
        row = store.get_run(conn, pid, names.check_name(run_id, "run id"))
        if row is None:
            raise NotFoundError(f"run {project}/{run_id} not found")
        return row

    def get(self, principal: Principal, project: str, run_id: str) -> Info:
        """A run's info, with ``last_step`` (None before the first point).

        Raises:
            NotFoundError: no such run.
            InvalidNameError: a malformed project or run id.
        """
        self.crash_silent()
        with self.db.read() as conn:
            row = self._run(conn, principal, project, run_id)
            info = run_info(row)
            info["last_step"] = store.max_step(conn, row["id"])
            return info

    def list_runs(self, principal: Principal, project: str) -> list[Info]:
        self.crash_silent()
        with self.db.read() as conn:
            pid = access.require_project(conn, principal, project)["id"]
            return [run_info(r) for r in store.list_runs(conn, pid)]

    def update(
        self,
        principal: Principal,
        project: str,
        run_id: str,
        *,
        config: dict[str, Any] | None = None,
        summary: dict[str, Any] | None = None,
        state: str | None = None,
        exit_code: int | None = None,
        tags: list[str] | None = None,
        notes: str | None = None,
        metric_defs: list[dict[str, Any]] | None = None,
    ) -> Info:
        """Replace a run's config, summary or define_metric definitions
        (:mod:`modelbay.contract.metric_defs`), change its state, tags or notes.

        Raises:
            InvalidInputError: an unknown state or bad values.
            NotFoundError: no such run.
        """
        if state is not None and state not in STATES:
            raise InvalidInputError(f"state must be one of {', '.join(STATES)}")
        for value, field in ((config, "config"), (summary, "summary")):
            if value is not None and not isinstance(value, dict):
                raise InvalidInputError(f"{field} must be an object")
        tag_list = names.check_tags(tags) if tags is not None else None
        notes = names.check_description(notes, "notes")
        defs = definitions.check(metric_defs) if metric_defs is not None else None
        t = now()
        with self.db.write() as conn:
            row = self._run(conn, principal, project, run_id, Role.MEMBER)
            changes: dict[str, Any] = {"updated_at": t, "heartbeat_at": t}
            if defs is not None:
                changes["metric_defs"] = defs
            if config is not None:
                changes["config"] = _json_safe(config, "config")
            if summary is not None:
                changes["summary"] = _json_safe(summary, "summary")
            if tag_list is not None:
                changes["tags"] = tag_list
            if notes is not None:
                changes["notes"] = notes
            if exit_code is not None:
                changes["exit_code"] = int(exit_code)
            if state is not None and state != row["state"]:
                changes["state"] = state
                changes["finished_at"] = t if state != "running" else None
                record(
                    conn,
                    principal,
                    f"run.{state}",
                    f"{row['project']}/{row['run_id']}",
                    project_id=row["project_id"],
                    run_pk=row["id"],
                    before={"state": row["state"]},
                    after={"state": state, "exit_code": exit_code},
                )
            store.update_run(conn, row["id"], **changes)
            updated = store.run_by_pk(conn, row["id"])
            assert updated is not None
            return run_info(updated)

    def log(self, principal: Principal, project: str, run_id: str, points: object) -> int:
        """Record metric points; returns how many values were stored. Every call, even
        with no points (a quiet run's heartbeat), moves the run's heartbeat.

        A point is ``{"step", "time", "values": {key: number}}`` or the compact
        ``[step, time, {key: number}]``. Values are numbers or bools; NaN is kept (stored as
        NULL), as are the infinities. A value for a (key, step) already stored replaces it,
        so that a resent batch duplicates nothing. The whole call is checked before anything
        is written: a bad point stores nothing.

        Raises:
            InvalidInputError: malformed points, bad keys or values, or more than
                :data:`MAX_POINTS` values in one call.
            NotFoundError: no such run.
        """
        with self.db.read() as conn:
            run = self._run(conn, principal, project, run_id, Role.MEMBER)
        media: list[tuple[int, str, int, str, float]] = []
        rows = _metric_rows(points, run["id"], media)
        t = now()
        with self.db.write() as conn:
            store.upsert_points(conn, rows)
            store.upsert_media(conn, media)
            store.beat(conn, run["id"], t)
            if rows:
                outbox.check_metrics(conn, principal.name, run, rows, t)
        return len(rows) + len(media)

    def media(
        self, principal: Principal, project: str, run_id: str, keys: list[str] | None = None
    ) -> Info:
        """A run's history values that are W&B media references (``table-file``,
        ``image-file``, ``histogram``): ``{"run": "p/id", "media": {key: [[step, value,
        time]]}}``, each key's by step.

        Raises:
            InvalidInputError: bad keys.
            NotFoundError: no such run.
        """
        key_list = _check_keys(keys)
        out: dict[str, list[list[Any]]] = {}
        with self.db.read() as conn:
            run_pk = self._run(conn, principal, project, run_id, Role.RESTRICTED_VIEWER)["id"]
            for key, step, value, time_ in store.media(conn, run_pk, key_list):
                out.setdefault(key, []).append([step, json.loads(value), time_])
        return {"run": f"{project}/{run_id}", "media": out}

    def history(
        self,
        principal: Principal,
        project: str,
        run_id: str,
        keys: list[str] | None = None,
        *,
        max_points: int | None = None,
        x_axis: str = "step",
        min_step: int | None = None,
        max_step: int | None = None,
        limit: int | None = None,
        cursor: str | None = None,
    ) -> Info:
        """The points of one run: ``{"run": "p/id", "history": {key: [[step, value, time]]}}``.

        With ``max_points``, each key's series is cut down on the server to at most that
        many points, keeping each bucket's minimum and maximum (see :func:`downsample`);
        ``x_axis`` ("step", "time" or a metric key, see :meth:`histories`) says what the
        buckets divide. NaN comes back as ``float("nan")``. With ``min_step``/``max_step``
        (from, and up to but not including) or ``limit`` (steps per page) or ``cursor`` (a
        page's ``next_cursor``), every point in range, a page at a time
        (:mod:`modelbay.services.history_pages`).

        Raises:
            InvalidInputError: bad keys, ``max_points``, ``x_axis`` or cursor, or
                ``max_points`` with a range or page.
            NotFoundError: no such run.
        """
        path = f"{project}/{run_id}"
        if (min_step, max_step, limit, cursor) != (None, None, None, None):
            if max_points is not None:
                raise InvalidInputError("max_points samples a whole history: not with a page")
            if limit is not None and (isinstance(limit, bool) or not limit >= 1):
                raise InvalidInputError("limit must be a positive number of steps")
            low = pages.decode_cursor(cursor) if cursor is not None else min_step
            low = pages.STEP_START if low is None else low
            high = pages.STEP_END if max_step is None else max_step
            key_list = _check_keys(keys)
            with self.db.read() as conn:
                run_pk = self._run(conn, principal, project, run_id)["id"]
                wanted = key_list if key_list else list(store.last_steps(conn, run_pk))
                found, next_cursor = pages.page(conn, run_pk, wanted, low, high, limit)
            return {"run": path, "history": found, "next_cursor": next_cursor}
        result = self.histories(principal, [path], keys, max_points=max_points, x_axis=x_axis)
        return {"run": path, "history": result["runs"][path]}

    def histories(
        self,
        principal: Principal,
        runs: list[str],
        keys: list[str] | None = None,
        *,
        max_points: int | None = None,
        x_axis: str = "step",
        bands: bool = False,
    ) -> Info:
        """The points of many runs at once: ``{"runs": {"p/id": {key: [[step, value, time]]}}}``.

        ``runs`` are ``"project/run_id"`` paths (at most :data:`MAX_RUNS`); ``keys`` None
        means every key. ``x_axis`` "step", "time", or a metric key: then each point also
        holds that metric's value at its step, ``[step, value, time, x]`` (a point whose step
        has none is left out, as on W&B's charts), and the series is ordered and thinned
        along it. Downsampling as in :meth:`history`; with ``bands``, a series longer
        than ``max_points`` comes back instead as one row per bucket,
        ``[step, mean, time, low, high]`` (see :func:`envelope`; with a metric axis, the
        bucket's mean x last), for a chart's line and its min–max band.

        Raises:
            InvalidInputError: a malformed path, too many runs or keys, bad ``max_points``
                or ``x_axis``.
            NotFoundError: any of the runs does not exist (details name them all).
        """
        paths = _run_paths(runs)
        key_list = _check_keys(keys)
        if max_points is not None and (
            not isinstance(max_points, int)
            or isinstance(max_points, bool)
            or not MIN_SAMPLES <= max_points <= MAX_POINTS
        ):
            raise InvalidInputError(
                f"max_points must be an integer from {MIN_SAMPLES} to {MAX_POINTS}",
                {"max_points": str(max_points)[:40]},
            )
        if x_axis not in X_AXES:
            _check_key(x_axis)
        nan = float("nan")
        out: dict[str, dict[str, list[list[Any]]]] = {}
        with self.db.read() as conn:
            found = self._runs(conn, principal, paths)
            for project, run_id in paths:
                row = found[(project, run_id)]
                series: dict[str, list[list[Any]]] = {}
                axis = None if x_axis in X_AXES else _axis(store.series(conn, row["id"], x_axis))
                for key in key_list if key_list else list(store.last_steps(conn, row["id"])):
                    points: list[Any] = store.series(conn, row["id"], key)
                    if axis is not None:
                        points = against(points, axis)
                    if not points:
                        continue
                    if max_points is not None and bands and len(points) > max_points:
                        series[key] = [list(row) for row in envelope(points, max_points, x_axis)]
                        continue
                    if max_points is not None:
                        points = downsample(points, max_points, x_axis)
                    if axis is None:
                        series[key] = [[s, nan if v is None else v, t] for s, v, t in points]
                    else:
                        series[key] = [[s, nan if v is None else v, t, x] for s, v, t, x in points]
                out[f"{project}/{run_id}"] = series
        return {"runs": out}

    def summaries(self, principal: Principal, runs: list[str]) -> list[Info]:
        """Many runs in one call (the compare table), in the order asked: each run's info
        (config, summary, state, ...) plus ``last_step`` and ``keys``, the keys it logged.

        Raises:
            InvalidInputError: a malformed path or too many runs.
            NotFoundError: any of the runs does not exist (details name them all).
        """
        paths = _run_paths(runs)
        self.crash_silent()
        with self.db.read() as conn:
            found = self._runs(conn, principal, paths)
            out = []
            for path in paths:
                row = found[path]
                info = run_info(row)
                steps = store.last_steps(conn, row["id"])
                info["keys"] = list(steps)
                info["last_step"] = max(steps.values()) if steps else None
                out.append(info)
            return out

    def _runs(
        self, conn: Any, principal: Principal, paths: list[tuple[str, str]]
    ) -> dict[tuple[str, str], dict[str, Any]]:
        """The rows of the runs at ``paths``; a run in a project the principal may not read
        is missing, as if it did not exist."""
        found = {(r["project"], r["run_id"]): r for r in store.runs_by_path(conn, paths)}
        if not principal.is_admin:
            readable = access_store.readable_project_ids(
                conn, principal.user_id, sorted({p for p, _ in paths})
            )
            found = {k: v for k, v in found.items() if k[0] in readable}
        missing = [f"{p}/{r}" for p, r in paths if (p, r) not in found]
        if missing:
            raise NotFoundError(
                f"run {missing[0]} not found"
                + (f" (and {len(missing) - 1} more)" if len(missing) > 1 else ""),
                {"missing": missing},
            )
        return found

    def artifacts(
        self, principal: Principal, project: str, run_id: str, direction: str
    ) -> list[Info]:
        """The artifact versions a run logged (``direction="logged"``) or used (``"used"``)."""
        if direction not in ("logged", "used"):
            raise InvalidInputError("direction must be 'logged' or 'used'")
        with self.db.read() as conn:
            row = self._run(conn, principal, project, run_id)
            rows = store.versions_of_run(conn, row["id"], direction)
            if not principal.is_admin:
                readable = access_store.readable_project_ids(
                    conn, principal.user_id, sorted({r["project"] for r in rows})
                )
                rows = [r for r in rows if r["project"] in readable]
            aliases = artifact_store.aliases_of(conn, [r["id"] for r in rows])
            tags = tag_store.tags_of(conn, tag_store.VERSION, [r["id"] for r in rows])
            return [
                version_info(r, aliases[r["id"]], tags[r["id"]])
                for r in rows
                if r["deleted_at"] is None
            ]


def _metric_rows(
    points: object, run_pk: int, media: list[tuple[int, str, int, str, float]] | None = None
) -> list[tuple[int, str, int, float | None, float]]:
    """Check every point and flatten them to ``(run_pk, key, step, value, time)`` rows;
    media references (see :func:`media_value`) go to ``media`` as JSON text.

    The loop is written for speed (type identity before isinstance, each key checked once):
    a server ingests millions of values through it.
    """
    if not isinstance(points, list):
        raise InvalidInputError("points must be a list")
    rows: list[tuple[int, str, int, float | None, float]] = []
    append = rows.append
    good_keys: set[str] = set()
    t_default = now()
    for p in points:
        if (type(p) is list or type(p) is tuple) and len(p) == 3:
            step, time_, values = p
        elif type(p) is dict and p.keys() <= _POINT_FIELDS:
            step, time_, values = p.get("step"), p.get("time"), p.get("values")
        else:
            raise InvalidInputError(
                "each point must be {step, time, values} or [step, time, values]"
            )
        if type(step) is not int or step < 0 or step > MAX_STEP:
            raise InvalidInputError(f"invalid step {step!r}")
        if time_ is None:
            time_ = t_default
        elif type(time_) is not float:
            if type(time_) is not int:
                raise InvalidInputError(f"invalid time {str(time_)[:40]!r}")
            try:
                time_ = float(time_)
            except OverflowError:
                raise InvalidInputError("time must be a finite number of seconds") from None
        if not math.isfinite(time_):
            raise InvalidInputError("time must be a finite number of seconds")
        if type(values) is not dict:
            raise InvalidInputError("the values of a point must be an object")
        for key, value in values.items():
            if key not in good_keys:
                _check_key(key)
                good_keys.add(key)
            tv = type(value)
            if tv is float:
                append((run_pk, key, step, None if value != value else value, time_))
            elif tv is int:
                try:
                    append((run_pk, key, step, float(value), time_))
                except OverflowError:
                    raise InvalidInputError(f"metric {key!r} is too large for a float") from None
            elif tv is bool:
                append((run_pk, key, step, 1.0 if value else 0.0, time_))
            elif tv is dict and media is not None:
                media.append((run_pk, key, step, media_value(key, value), time_))
            else:
                raise InvalidInputError(
                    f"metric {key!r} has a non-numeric value of type {tv.__name__}"
                )
        if len(rows) + (len(media) if media else 0) > MAX_POINTS:
            raise InvalidInputError(f"at most {MAX_POINTS} values per call")
    return rows


_POINT_FIELDS = {"step", "time", "values"}

#: The ``_type`` of history values that are not numbers, as W&B writes them.
MEDIA_TYPES = frozenset({"table-file", "image-file", "images/separated", "histogram"})
MAX_MEDIA_BYTES = 64 << 10


def media_value(key: str, value: dict[str, Any]) -> str:
    """A media reference as JSON text: a ``_type`` of :data:`MEDIA_TYPES`, finite numbers,
    at most :data:`MAX_MEDIA_BYTES`.

    Raises:
        InvalidInputError: any other object.
    """
    if value.get("_type") not in MEDIA_TYPES:
        raise InvalidInputError(
            f"metric {key!r} is an object without a known _type "
            f"({', '.join(sorted(MEDIA_TYPES))})"
        )
    try:
        text = json.dumps(value, allow_nan=False, separators=(",", ":"))
    except (TypeError, ValueError):
        raise InvalidInputError(f"media value of {key!r} is not finite JSON") from None
    if len(text) > MAX_MEDIA_BYTES:
        raise InvalidInputError(f"media value of {key!r} is over {MAX_MEDIA_BYTES >> 10} KiB")
    return text


def _check_key(key: object) -> None:
    if not isinstance(key, str) or not key or len(key) > MAX_KEY_CHARS or not key.isprintable():
        raise InvalidInputError(
            f"invalid metric key {str(key)[:80]!r}: 1 to {MAX_KEY_CHARS} printable characters"
        )


def _check_keys(keys: object) -> list[str] | None:
    if keys is None:
        return None
    if not isinstance(keys, list | tuple) or len(keys) > MAX_KEYS:
        raise InvalidInputError(f"keys must be a list of at most {MAX_KEYS} metric keys")
    for key in keys:
        _check_key(key)
    return list(dict.fromkeys(keys)) or None


def _run_paths(runs: object) -> list[tuple[str, str]]:
    """``["project/run_id", ...]`` checked and split, duplicates dropped, order kept."""
    if isinstance(runs, str) or not isinstance(runs, list | tuple):
        raise InvalidInputError('runs must be a list of "project/run_id" paths')
    if not runs:
        raise InvalidInputError("runs must name at least one run")
    if len(runs) > MAX_RUNS:
        raise InvalidInputError(f"at most {MAX_RUNS} runs per request")
    out: dict[tuple[str, str], None] = {}
    for path in runs:
        if not isinstance(path, str) or path.count("/") != 1:
            raise InvalidInputError(
                f'invalid run path {str(path)[:80]!r}: expected "project/run_id"'
            )
        project, run_id = path.split("/")
        out[(names.check_project(project), names.check_name(run_id, "run id"))] = None
    return list(out)
