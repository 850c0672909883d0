"""Run health: a training process killed with SIGKILL leaves its run ``crashed`` once the
heartbeat timeout has passed, embedded and over HTTP; a live run that logs rarely stays
``running``, kept alive by its heartbeat; a resumed run is running again. Real processes,
real signals; every wait polls for a state."""

from __future__ import annotations

import dataclasses
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from support.processes import ServerProcess

import modelbay
from modelbay import Api
from modelbay.sdk.run import RunSettings
from modelbay.sdk.transport import reset_transports
from modelbay.settings import Settings
from modelbay.store import events as event_store
from modelbay.store.database import Database

#: Seconds of silence that crash a run here (clients then beat every second).
TIMEOUT = "4"


def wait_until(check: Callable[[], object], what: str, timeout: float = 90.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"gave up waiting for {what}")
        time.sleep(0.1)


@pytest.fixture(scope="module")
def quick_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """A server that crashes runs silent for :data:`TIMEOUT` seconds."""
    srv = ServerProcess(
        tmp_path_factory.mktemp("health-server"), extra_env={"MODELBAY_RUN_TIMEOUT": TIMEOUT}
    )
    try:
        yield srv
    finally:
        srv.stop()


@pytest.fixture(params=["embedded", "http"])
def health(
    request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Path]:
    """The SDK (and its child processes) with a short run timeout; yields the metadata
    database file of whoever stores the runs."""
    for name in list(os.environ):
        if name.startswith("MODELBAY_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("MODELBAY_DIR", str(tmp_path / "home"))
    monkeypatch.setenv("MODELBAY_RUN_TIMEOUT", TIMEOUT)
    db_file = tmp_path / "home" / "modelbay.db"
    if request.param == "http":
        srv: ServerProcess = request.getfixturevalue("quick_server")
        monkeypatch.setenv("MODELBAY_URL", srv.url)
        monkeypatch.setenv("MODELBAY_API_KEY", srv.admin_key)
        db_file = srv.data_dir / "modelbay.db"
    monkeypatch.chdir(tmp_path)
    reset_transports()
    modelbay.run = None
    try:
        yield db_file
    finally:
        if modelbay.run is not None:
            modelbay.run.finish()
        reset_transports()


CHILD = """
import sys, time
import modelbay
from modelbay.sdk.run import RunSettings
run = modelbay.init(project=sys.argv[1], id=sys.argv[2],
                    run_settings=RunSettings(flush_interval=0.1, system_interval=0))
step = 0
while True:
    run.log({"loss": 1 / (step + 1)})
    step += 1
    time.sleep(0.05)
"""


def points(path: str) -> int:
    try:
        return len(Api().run(path).series(["loss"]).get("loss", []))
    except modelbay.errors.NotFoundError:
        return 0


def run_state(path: str) -> str:
    return str(Api().run(path).state)


def run_events(db_file: Path, path: str) -> list[str]:
    db = Database(f"sqlite:///{db_file}", migrate=False)
    try:
        with db.read() as conn:
            rows = event_store.list_events(conn, limit=100)
        return [r["action"] for r in reversed(rows) if r["subject"] == path]
    finally:
        db.dispose()


def test_sigkilled_run_becomes_crashed_and_a_resume_revives_it(health, tmp_path, uniq):
    project, run_id = f"h{uniq}", f"r{uniq}"
    path = f"{project}/{run_id}"
    script = tmp_path / "train.py"
    script.write_text(CHILD)
    child = subprocess.Popen(
        [sys.executable, str(script), project, run_id],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        wait_until(lambda: points(path) >= 5, "the child's first points on the server")
        assert run_state(path) == "running"
        os.kill(child.pid, signal.SIGKILL)
        child.wait(30)
    finally:
        if child.poll() is None:
            os.killpg(child.pid, signal.SIGKILL)
            child.wait(30)
    assert child.returncode == -signal.SIGKILL

    wait_until(lambda: run_state(path) == "crashed", "the killed run to be crashed")
    listed = {r.id: r.state for r in Api().runs(project)}
    assert listed[run_id] == "crashed"  # every reader agrees
    assert run_events(health, path).count("run.crashed") == 1

    run = modelbay.init(project=project, id=run_id, resume="allow")
    assert run_state(path) == "running"
    run.log({"loss": 0.0})
    run.finish()
    assert run_state(path) == "finished"
    assert run_events(health, path)[-3:] == ["run.crashed", "run.resumed", "run.finished"]


def test_a_live_run_that_logs_rarely_stays_running(health, uniq):
    settings = dataclasses.replace(RunSettings.from_env(), system_interval=0)
    assert settings.heartbeat_interval == float(TIMEOUT) / 4
    run = modelbay.init(project=f"h{uniq}", id=f"slow{uniq}", run_settings=settings)
    run.log({"loss": 1.0})
    quiet_since = time.monotonic()
    # Quiet for three timeouts: only the heartbeat speaks for the run.
    while time.monotonic() - quiet_since < 3 * float(TIMEOUT):
        assert run_state(run.path) == "running"
        time.sleep(0.5)
    run.log({"loss": 0.5})
    run.finish()
    assert run_state(run.path) == "finished"


def test_the_run_timeout_setting_is_read_from_the_environment():
    assert Settings.from_env({"MODELBAY_RUN_TIMEOUT": "90"}).run_timeout == 90.0
    assert Settings.from_env({}).run_timeout == 300.0
    with pytest.raises(modelbay.errors.InvalidInputError):
        Settings.from_env({"MODELBAY_RUN_TIMEOUT": "soon"})
