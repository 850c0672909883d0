"""Nothing acknowledged is lost: a server killed and restarted while a run logs, a training
process killed with SIGKILL, a server still away at exit. Real server processes, real
signals, real files; every wait polls for a state, none asserts a duration."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from support.processes import ServerProcess

import modelbay
from modelbay import Api
from modelbay.sdk.run import RunSettings
from modelbay.sdk.transport import reset_transports


def wait_until(check: Callable[[], object], what: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"gave up waiting for {what}")
        time.sleep(0.02)


def journal_steps(run_dir: Path, key: str) -> list[int]:
    """The steps of ``key`` in a run journal's complete lines (the writer may be mid-line)."""
    path = run_dir / "run.jsonl"
    if not path.exists():
        return []
    steps = []
    for line in path.read_bytes().split(b"\n")[:-1]:
        record = json.loads(line)
        steps += [p[0] for p in record.get("points", []) if key in p[2]]
    return steps


def unsent_bytes(run_dir: Path) -> int:
    size = (run_dir / "run.jsonl").stat().st_size
    try:
        sent = int((run_dir / "run.sent").read_text() or 0)
    except (OSError, ValueError):
        sent = 0
    return size - sent


def sync_cli(*args: str) -> list[dict]:
    done = subprocess.run(
        [sys.executable, "-m", "modelbay", "sync", *args, "--json"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


@pytest.fixture
def own_server(tmp_path, monkeypatch):
    """A server of this test's own (it gets killed), and the SDK pointed at it."""
    srv = ServerProcess(tmp_path / "server-data")
    for name in list(os.environ):
        if name.startswith("MODELBAY_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("MODELBAY_URL", srv.url)
    monkeypatch.setenv("MODELBAY_API_KEY", srv.admin_key)
    monkeypatch.setenv("MODELBAY_DIR", str(tmp_path / "home"))
    monkeypatch.chdir(tmp_path)
    reset_transports()
    modelbay.run = None
    try:
        yield srv
    finally:
        if modelbay.run is not None:
            modelbay.run.finish()
        reset_transports()
        srv.stop()


def test_server_killed_and_restarted_while_a_run_logs(own_server, capfd):
    run = modelbay.init(
        project="crashy",
        run_settings=RunSettings(flush_interval=0.05, exit_timeout=120, system_interval=0),
    )
    run_dir = Path(run.dir)
    logged = 0

    def log_some(count: int) -> None:
        nonlocal logged
        for _ in range(count):
            run.log({"x": logged, "sq": logged * logged})
            logged += 1

    log_some(2000)
    wait_until(lambda: Api().run(run.path).series(["x"]).get("x"), "the first points to arrive")
    own_server.kill()
    log_some(2000)  # returns at once: nothing here waits on the dead server
    wait_until(
        lambda: journal_steps(run_dir, "x")[-1:] == [logged - 1] and unsent_bytes(run_dir) > 0,
        "the points logged while the server is down to be journaled",
    )
    own_server.restart()
    log_some(2000)
    run.finish()

    history = Api().run(run.path).series()
    assert [p[0] for p in history["x"]] == list(range(logged))  # none lost, none twice
    assert [p[1] for p in history["x"]] == [float(i) for i in range(logged)]
    assert [p[1] for p in history["sq"]] == [float(i * i) for i in range(logged)]
    assert Api().run(run.path).state == "finished"
    err = capfd.readouterr().err
    assert "cannot send" in err and "reached the server again" in err
    assert not (run_dir / "run.jsonl").exists()  # all confirmed, so the journal is gone


def test_a_hung_server_never_holds_up_the_journal(own_server):
    run = modelbay.init(
        project="hung",
        run_settings=RunSettings(flush_interval=0.05, exit_timeout=120, system_interval=0),
    )
    run_dir = Path(run.dir)
    for i in range(100):
        run.log({"x": i})
    wait_until(
        lambda: len(Api().run(run.path).series(["x"]).get("x", [])) == 100,
        "the first points to arrive",
    )
    os.killpg(own_server.pid, signal.SIGSTOP)  # accepts connections, answers nothing
    try:
        for i in range(100, 200):
            run.log({"x": i})
            if i % 20 == 0:  # several flush intervals while a request hangs
                wait_until(
                    lambda i=i: journal_steps(run_dir, "x")[-1:] == [i], f"step {i} journaled"
                )
        assert unsent_bytes(run_dir) > 0
    finally:
        os.killpg(own_server.pid, signal.SIGCONT)
    run.finish()
    assert [p[0] for p in Api().run(run.path).series()["x"]] == list(range(200))


CHILD = """
import itertools, sys, time
import modelbay
from modelbay.sdk.run import RunSettings
run = modelbay.init(project=sys.argv[1], id=sys.argv[2],
                    run_settings=RunSettings(flush_interval=0.1, system_interval=0))
for i in itertools.count():
    run.log({"i": i, "half": i / 2})
    if i % 100 == 0:
        time.sleep(0.002)
"""


def start_child(tmp_path: Path, project: str, run_id: str) -> subprocess.Popen[bytes]:
    script = tmp_path / "train.py"
    script.write_text(CHILD)
    return subprocess.Popen(
        [sys.executable, str(script), project, run_id],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )


def kill_while_logging(tmp_path: Path, project: str, run_id: str) -> tuple[Path, int]:
    """Start a training process, SIGKILL it once its journal holds 2,000 steps; returns the
    run directory and the highest step the journal held when the kill was sent."""
    run_dir = Path(os.environ["MODELBAY_DIR"]) / "runs" / project / run_id
    child = start_child(tmp_path, project, run_id)
    try:
        wait_until(lambda: len(journal_steps(run_dir, "i")) >= 2000, "2,000 journaled steps")
        seen = journal_steps(run_dir, "i")[-1]
        os.kill(child.pid, signal.SIGKILL)
        child.wait(30)
    finally:
        if child.poll() is None:
            os.killpg(child.pid, signal.SIGKILL)
            child.wait(30)
    assert child.returncode == -signal.SIGKILL
    return run_dir, seen


def test_sigkilled_training_process_loses_only_its_last_interval(mb, tmp_path, uniq):
    project, run_id = f"k{uniq}", f"r{uniq}"
    run_dir, seen = kill_while_logging(tmp_path, project, run_id)
    journaled = journal_steps(run_dir, "i")
    assert journaled == list(range(len(journaled)))  # fsync'd in order, a torn line at most
    assert journaled[-1] >= seen

    result = sync_cli(str(run_dir))
    assert [r["result"] for r in result] in (["sent"], ["up to date"])
    stored = Api().run(f"{project}/{run_id}")
    assert stored.state == "crashed"  # the process died without finishing
    steps = [p[0] for p in stored.series(["i"])["i"]]
    assert steps == list(range(len(journaled)))  # every journaled step, once, no gap
    assert sync_cli(str(run_dir))[0]["result"] == "up to date"


def test_resume_after_sigkill_continues_from_the_journal(mb, tmp_path, uniq):
    project, run_id = f"k{uniq}", f"r{uniq}"
    run_dir, _ = kill_while_logging(tmp_path, project, run_id)
    journaled = journal_steps(run_dir, "i")
    run = modelbay.init(
        project=project, id=run_id, resume="allow", run_settings=RunSettings(system_interval=0)
    )
    assert run.step == len(journaled)  # the unsent tail went first
    for j in range(5):
        run.log({"i": -j})
    run.finish()
    stored = Api().run(f"{project}/{run_id}")
    steps = [p[0] for p in stored.series(["i"])["i"]]
    assert steps == list(range(len(journaled) + 5))
    assert stored.state == "finished"


def test_exit_with_the_server_away_waits_a_bounded_time_then_sync(own_server, capfd):
    run = modelbay.init(
        project="away",
        config={"lr": 0.5},
        run_settings=RunSettings(flush_interval=0.05, exit_timeout=1, system_interval=0),
    )
    run_dir = Path(run.dir)
    for i in range(100):
        run.log({"x": i})
    wait_until(
        lambda: len(Api().run(run.path).series(["x"]).get("x", [])) == 100,
        "the first points to arrive",
    )
    own_server.kill()
    for i in range(100, 200):
        run.log({"x": i})
    run.summary["best"] = 7
    run.finish()  # returns: bounded wait, no exception
    err = capfd.readouterr().err
    assert f"modelbay sync {run_dir}" in err
    assert unsent_bytes(run_dir) > 0

    own_server.restart()
    first = sync_cli(str(run_dir))
    assert first[0]["result"] == "sent" and first[0]["state"] == "finished"
    stored = Api().run(run.path)
    assert [p[0] for p in stored.series()["x"]] == list(range(200))
    assert stored.summary["best"] == 7 and stored.config == {"lr": 0.5}
    assert sync_cli(str(run_dir))[0]["result"] == "up to date"
    (run_dir / "run.sent").unlink()  # even with the cursor lost, nothing is duplicated
    assert sync_cli(str(run_dir))[0]["result"] == "sent"
    assert [p[0] for p in Api().run(run.path).series()["x"]] == list(range(200))


EXITING = """
import sys
import modelbay
from modelbay.sdk.run import RunSettings
run = modelbay.init(project=sys.argv[1], id=sys.argv[2], run_settings=RunSettings(system_interval=0))
for i in range(10):
    run.log({"x": i})
if sys.argv[3] == "raise":
    raise RuntimeError("training blew up")
"""


@pytest.mark.parametrize("how, state", [("exit", "finished"), ("raise", "failed")])
def test_interpreter_exit_flushes_and_finishes(mb, tmp_path, uniq, how, state):
    script = tmp_path / "train.py"
    script.write_text(EXITING)
    done = subprocess.run(
        [sys.executable, str(script), f"e{uniq}", f"r{uniq}", how],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == (0 if how == "exit" else 1), done.stderr
    stored = Api().run(f"e{uniq}/r{uniq}")
    assert stored.state == state
    assert [p[0] for p in stored.series()["x"]] == list(range(10))
