"""Runs: create or resume, update config and summary, record metric history, finish."""

from __future__ import annotations

import math
import secrets
import string
from typing import Any

from modelbay import names
from modelbay.errors import AlreadyExistsError, InvalidInputError, NotFoundError
from modelbay.services.core import Info, Principal, now, record, version_info
from modelbay.store import artifacts as artifact_store
from modelbay.store import runs as store
from modelbay.store import tags as tag_store
from modelbay.store.database import Database

STATES = ("running", "finished", "failed", "crashed")
RESUME = (None, "never", "allow", "must")
MAX_POINTS = 100_000
MAX_KEY_CHARS = 256
_ADJECTIVES = ["bright", "calm", "eager", "fancy", "gentle", "happy", "jolly", "lively", "misty", "noble", "proud", "quiet", "rapid", "silver", "swift", "vivid"]
_NOUNS = ["river", "forest", "meadow", "comet", "galaxy", "harbor", "island", "lantern", "mountain", "ocean", "planet", "sunrise", "thunder", "valley"]


def new_run_id() -> str:
    return "".join(secrets.choice(string.ascii_lowercase + string.digits) for _ in range(8))


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
        "system": row["system"],
        "user": row["user"],
        "created_at": row["created_at"],
        "updated_at": row["updated_at"],
        "finished_at": row["finished_at"],
        "exit_code": row["exit_code"],
        "path": f"{row['project']}/{row['run_id']}",
    }


class RunService:
    def __init__(self, db: Database) -> None:
        self.db = db

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
        resume: str | None = None,
        system: dict[str, Any] | None = None,
    ) -> Info:
        """Start a run, or continue one (``resume`` "allow" or "must").

        Raises:
            AlreadyExistsError: ``run_id`` exists and resume is not allowed.
            NotFoundError: resume "must" and no such run.
            InvalidInputError: bad names or values.
        """
        project = names.check_project(project)
        if resume not in RESUME:
            raise InvalidInputError(f"resume must be one of allow, must, never; not {resume!r}")
        if run_id is not None:
            names.check_name(run_id, "run id")
        if name is not None:
            names.check_name(name, "run name")
        if job_type is not None:
            names.check_name(job_type, "job type")
        tag_list = names.check_tags(tags)
        notes = names.check_description(notes)
        if config is not None and not isinstance(config, dict):
            raise InvalidInputError("config must be an object")
        t = now()
        with self.db.write() as conn:
            project_id = artifact_store.ensure_project(conn, project, t)
            existing = store.get_run(conn, project_id, run_id) if run_id else None
            if existing is not None:
                if resume not in ("allow", "must"):
                    raise AlreadyExistsError(
                        f"run {project}/{run_id} exists; pass resume='allow' to continue it"
                    )
                changes: dict[str, Any] = {
                    "state": "running",
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
                run_id = run_id or new_run_id()
                run_pk = store.insert_run(
                    conn,
                    project_id=project_id,
                    run_id=run_id,
                    name=name
                    or f"{secrets.choice(_ADJECTIVES)}-{secrets.choice(_NOUNS)}-{run_id[:4]}",
                    state="running",
                    config=_json_safe(config or {}, "config"),
                    summary={},
                    tags=tag_list,
                    notes=notes,
                    job_type=job_type,
                    system=_json_safe(system or {}, "system"),
                    user_id=principal.user_id,
                    created_at=t,
                    updated_at=t,
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

    def _run(self, conn: Any, project: str, run_id: str) -> dict[str, Any]:
        pid = artifact_store.project_id(conn, names.check_project(project))
        row = (
            store.get_run(conn, pid, names.check_name(run_id, "run id"))
            if pid is not None
            else None
        )
        if row is None:
            raise NotFoundError(f"run {project}/{run_id} not found")
        return row

    def get(self, principal: Principal, project: str, run_id: str) -> Info:
        with self.db.read() as conn:
            row = self._run(conn, project, run_id)
            info = run_info(row)
            info["last_step"] = store.max_step(conn, row["id"])
            return info

    def list_runs(self, principal: Principal, project: str) -> list[Info]:
        with self.db.read() as conn:
            pid = artifact_store.project_id(conn, names.check_project(project))
            if pid is None:
                raise NotFoundError(f"project {project!r} not found")
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
    ) -> Info:
        """Replace a run's config or summary, change its state, tags or notes.

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
        notes = names.check_description(notes)
        t = now()
        with self.db.write() as conn:
            row = self._run(conn, project, run_id)
            changes: dict[str, Any] = {"updated_at": t}
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
        """Record metric points ``[{"step", "time", "values": {key: number}}]``; returns the count.

        A point for a (key, step) already stored replaces it, so that a resent batch
        duplicates nothing.

        Raises:
            InvalidInputError: malformed points or too many in one call.
        """
        if not isinstance(points, list):
            raise InvalidInputError("points must be a list")
        rows: list[dict[str, Any]] = []
        for p in points:
            if not isinstance(p, dict) or not isinstance(p.get("values"), dict):
                raise InvalidInputError("each point must be {step, time, values}")
            step = p.get("step")
            if not isinstance(step, int) or isinstance(step, bool) or step < 0:
                raise InvalidInputError(f"invalid step {step!r}")
            time_ = p.get("time")
            if not isinstance(time_, int | float):
                time_ = now()
            for key, value in p["values"].items():
                if not isinstance(key, str) or not key or len(key) > MAX_KEY_CHARS:
                    raise InvalidInputError(f"invalid metric key {str(key)[:80]!r}")
                rows.append(
                    {
                        "key": key,
                        "step": step,
                        "value": _metric_value(key, value),
                        "time": float(time_),
                    }
                )
        if len(rows) > MAX_POINTS:
            raise InvalidInputError(f"at most {MAX_POINTS} values per call")
        if not rows:
            return 0
        with self.db.write() as conn:
            row = self._run(conn, project, run_id)
            for r in rows:
                r["run_pk"] = row["id"]
            store.insert_metrics(conn, rows)
        return len(rows)

    def history(
        self, principal: Principal, project: str, run_id: str, keys: list[str] | None = None
    ) -> Info:
        with self.db.read() as conn:
            row = self._run(conn, project, run_id)
            series = store.history(conn, row["id"], keys)
        nan = float("nan")
        return {
            "run": f"{project}/{run_id}",
            "history": {
                k: [[s, nan if v is None else v, t] for s, v, t in pts] for k, pts in series.items()
            },
        }

    def artifacts(
        self, principal: Principal, project: str, run_id: str, direction: str
    ) -> list[Info]:
        """The artifact versions a run logged (``direction="logged"``) or used (``"used"``)."""
        if direction not in ("logged", "used"):
            raise InvalidInputError("direction must be 'logged' or 'used'")
        with self.db.read() as conn:
            row = self._run(conn, project, run_id)
            rows = store.versions_of_run(conn, row["id"], direction)
            aliases = artifact_store.aliases_of(conn, [r["id"] for r in rows])
            tags = tag_store.tags_of(conn, tag_store.VERSION, [r["id"] for r in rows])
            return [
                version_info(r, aliases[r["id"]], tags[r["id"]])
                for r in rows
                if r["deleted_at"] is None
            ]


def _metric_value(key: str, value: Any) -> float | None:
    """The stored value; NaN is stored as NULL (SQLite cannot hold NaN) and read back as NaN."""
    if isinstance(value, bool):
        return 1.0 if value else 0.0
    if isinstance(value, int | float):
        return None if math.isnan(value) else float(value)
    raise InvalidInputError(
        f"metric {key!r} has a non-numeric value of type {type(value).__name__}"
    )
