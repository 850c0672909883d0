"""``modelbay agent``: job deliveries leased, run with the agent's own command, reported.

The service tests run on SQLite and PostgreSQL; the agent tests start the real ``modelbay
agent`` command over a data directory and run a real command (a Python script that records
its stdin and environment), including an agent SIGKILLed mid-job whose job is leased again.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from standardwebhooks import Webhook

from modelbay.errors import NotFoundError
from modelbay.services import Principal, Services
from modelbay.settings import Settings
from modelbay.store.schema import automations, deliveries, delivery_attempts

AGENT = (sys.executable, "-m", "modelbay", "agent")

#: The agent's command in these tests: records its event, environment and attempt in
#: RECORD_DIR, prints a line, sleeps while SLEEP_ON_ATTEMPT is its attempt, exits EXIT_CODE.
JOB_SCRIPT = r"""
import json, os, sys, time
event = json.load(sys.stdin)
env = {k: v for k, v in os.environ.items() if k.startswith("MODELBAY_EVENT_")}
attempt = env["MODELBAY_EVENT_ATTEMPT"]
out = os.path.join(os.environ["RECORD_DIR"], f"attempt-{attempt}.json")
with open(out + ".tmp", "w") as f:
    json.dump({"event": event, "env": env, "pid": os.getpid()}, f)
os.replace(out + ".tmp", out)
print(f"deploying {event['type']} attempt {attempt}", flush=True)
if os.environ.get("SLEEP_ON_ATTEMPT") == attempt:
    time.sleep(120)
sys.exit(int(os.environ.get("EXIT_CODE", "0")))
"""


def ref_file(content: str) -> list[dict[str, Any]]:
    """A file tracked by reference: a version that needs no stored bytes."""
    digest = hashlib.sha256(content.encode()).hexdigest()
    return [
        {"path": "w.bin", "sha256": digest, "size": len(content), "ref": f"https://e.com/{digest}"}
    ]


def add_job(services: Services, queue: str, *, project: str | None = None) -> int:
    """A job delivery of ``queue``, made as a team makes one: a job automation on a project,
    then the ``production`` alias set on a new version there (the outbox writes the job)."""
    admin = services.auth.local_principal("alice")
    project = project or f"p{uuid.uuid4().hex[:8]}"
    name = f"deploy-{uuid.uuid4().hex[:8]}"
    services.artifacts.commit_version(admin, project, "net", "model", ref_file(name))
    services.automations.create(
        admin, name, f"project:{project}", "alias-added", "job",
        queue=queue, alias_regex="production",
    )  # fmt: skip
    services.artifacts.set_alias(admin, project, "net", "production", "v0")
    with services.db.read() as conn:
        found = conn.execute(
            sa.select(deliveries.c.id)
            .join(automations, automations.c.id == deliveries.c.automation_id)
            .where(automations.c.name == name)
        ).scalars()
        (delivery_id,) = list(found)
    return int(delivery_id)


def delivery(services: Services, delivery_id: int) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    with services.db.read() as conn:
        row = conn.execute(sa.select(deliveries).where(deliveries.c.id == delivery_id)).mappings()
        attempts = conn.execute(
            sa.select(delivery_attempts)
            .where(delivery_attempts.c.delivery_id == delivery_id)
            .order_by(delivery_attempts.c.id)
        ).mappings()
        return dict(row.one()), [dict(a) for a in attempts]


@pytest.fixture
def services(db_url: str, tmp_path: Path) -> Iterator[Services]:
    with Services.open(Settings(data_dir=tmp_path, db_url=db_url)) as s:
        yield s


# -- the service, on both databases ------------------------------------------------------


def test_one_lease_per_job_then_completed_with_its_attempt(services: Services) -> None:
    admin = services.auth.local_principal("alice")
    job = add_job(services, "deploy")
    add_job(services, "other-queue")
    first = services.jobs.lease(admin, "deploy", "a1", 30.0)
    assert first["leased"] and first["delivery_id"] == job and first["attempt"] == 1
    assert first["event"]["type"] == "alias.added"
    assert first["event"]["data"]["alias"] == "production"
    assert first["event"]["data"]["version"]["name"] == "net"
    # Held: no second agent gets it, whatever queue it asks.
    assert services.jobs.lease(admin, "deploy", "a2", 30.0) == {"leased": False}
    with pytest.raises(NotFoundError):
        services.jobs.complete(admin, job, "a2/forged", 0, 1.0, "", None)
    services.jobs.extend(admin, job, first["lease_token"], 30.0)
    done = services.jobs.complete(admin, job, first["lease_token"], 0, 2.5, "ok\n", None)
    assert done == {"delivery_id": job, "state": "succeeded", "attempts": 1}
    row, attempts = delivery(services, job)
    assert row["state"] == "succeeded" and row["leased_by"] is None
    assert [(a["exit_code"], a["duration"], a["output_tail"]) for a in attempts] == [
        (0, 2.5, "ok\n")
    ]
    assert services.jobs.lease(admin, "deploy", "a2", 30.0) == {"leased": False}


def test_an_expired_lease_is_leased_again_and_the_lost_attempt_recorded(
    services: Services,
) -> None:
    admin = services.auth.local_principal("alice")
    job = add_job(services, "deploy")
    first = services.jobs.lease(admin, "deploy", "dead-agent", 1.0)
    time.sleep(1.2)
    second = services.jobs.lease(admin, "deploy", "live-agent", 30.0)
    assert second["delivery_id"] == job and second["attempt"] == 2
    assert second["event"] == first["event"]  # the same body on every attempt
    # The dead agent's token no longer holds the job.
    with pytest.raises(NotFoundError):
        services.jobs.complete(admin, job, first["lease_token"], 0, 1.0, "", None)
    services.jobs.complete(admin, job, second["lease_token"], 7, 1.0, "boom", None)
    row, attempts = delivery(services, job)
    assert row["state"] == "failed" and row["attempts"] == 2
    assert "dead-agent" in attempts[0]["error"] and attempts[0]["exit_code"] is None
    assert attempts[1]["exit_code"] == 7


def test_a_user_leases_only_jobs_of_scopes_where_they_are_a_member(
    services: Services,
) -> None:
    admin = services.auth.local_principal("alice")
    outsider = services.auth.create_user(admin, "bob")
    with services.db.read() as conn:
        bob_id = conn.execute(sa.text("select id from users where name = 'bob'")).scalar_one()
    bob = Principal(int(bob_id), "bob", False)
    assert outsider["user"] == "bob"
    add_job(services, "deploy")  # in a project bob may read (a viewer) but is no member of
    assert services.jobs.lease(bob, "deploy", "bob-agent", 30.0) == {"leased": False}
    assert services.jobs.lease(admin, "deploy", "admin-agent", 30.0)["leased"]


# -- the agent command -------------------------------------------------------------------


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    path = tmp_path / "data"
    path.mkdir()
    return path


def agent_env(record: Path, **more: str) -> dict[str, str]:
    env = {**os.environ, "RECORD_DIR": str(record), "MODELBAY_USER": "alice", **more}
    env.pop("MODELBAY_URL", None)
    return env


def test_the_agent_runs_its_command_with_the_event_and_reports_it(
    data_dir: Path, tmp_path: Path
) -> None:
    record = tmp_path / "record"
    record.mkdir()
    with Services.open(Settings(data_dir=data_dir)) as services:
        job = add_job(services, "deploy")
    out = subprocess.run(
        [*AGENT, "--queue", "deploy", "--data-dir", str(data_dir), "--once", "--",
         sys.executable, "-c", JOB_SCRIPT],
        env=agent_env(record, EXIT_CODE="3"),
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    seen = json.loads((record / "attempt-1.json").read_text())
    assert seen["event"]["type"] == "alias.added"
    assert seen["event"]["data"]["alias"] == "production"
    assert seen["env"]["MODELBAY_EVENT_TYPE"] == "alias.added"
    assert seen["env"]["MODELBAY_EVENT_ALIAS"] == "production"
    assert seen["env"]["MODELBAY_EVENT_VERSION_NAME"] == "net"
    assert seen["env"]["MODELBAY_EVENT_DELIVERY_ID"] == str(job)
    assert seen["env"]["MODELBAY_EVENT_ID"].startswith("msg_")
    with Services.open(Settings(data_dir=data_dir)) as services:
        row, attempts = delivery(services, job)
    assert row["state"] == "failed"
    assert len(attempts) == 1
    assert attempts[0]["exit_code"] == 3
    assert "deploying alias.added attempt 1" in attempts[0]["output_tail"]
    assert attempts[0]["duration"] > 0


def test_a_job_times_out_and_its_command_is_killed(data_dir: Path, tmp_path: Path) -> None:
    record = tmp_path / "record"
    record.mkdir()
    with Services.open(Settings(data_dir=data_dir)) as services:
        job = add_job(services, "deploy")
    out = subprocess.run(
        [*AGENT, "--queue", "deploy", "--data-dir", str(data_dir), "--once", "--timeout", "2",
         "--", sys.executable, "-c", JOB_SCRIPT],
        env=agent_env(record, SLEEP_ON_ATTEMPT="1"),
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    pid = json.loads((record / "attempt-1.json").read_text())["pid"]
    assert not Path(f"/proc/{pid}").exists() or "Z" in _state(pid)
    with Services.open(Settings(data_dir=data_dir)) as services:
        row, attempts = delivery(services, job)
    assert row["state"] == "failed"
    assert attempts[0]["exit_code"] is None and "timed out" in attempts[0]["error"]


def _state(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return "gone"


def _wait_for(path: Path, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists():
        assert time.monotonic() < deadline, f"{path} never appeared"
        time.sleep(0.05)


def test_an_agent_killed_mid_job_leaves_it_to_the_next_agent(
    data_dir: Path, tmp_path: Path
) -> None:
    record = tmp_path / "record"
    record.mkdir()
    with Services.open(Settings(data_dir=data_dir)) as services:
        job = add_job(services, "deploy")
    argv = [*AGENT, "--queue", "deploy", "--data-dir", str(data_dir), "--lease", "3",
            "--poll", "0.2", "--", sys.executable, "-c", JOB_SCRIPT]  # fmt: skip
    env = agent_env(record, SLEEP_ON_ATTEMPT="1")
    first = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        _wait_for(record / "attempt-1.json")
        command_pid = json.loads((record / "attempt-1.json").read_text())["pid"]
        os.kill(first.pid, signal.SIGKILL)
        first.wait(timeout=30)
    finally:
        if first.poll() is None:
            first.kill()
            first.wait()
    # The command died with its agent: no orphan goes on with the job.
    deadline = time.monotonic() + 10
    while _state(command_pid) not in ("gone", "Z") and time.monotonic() < deadline:
        time.sleep(0.05)
    assert _state(command_pid) in ("gone", "Z")

    second = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        _wait_for(record / "attempt-2.json")
        deadline = time.monotonic() + 60
        while True:
            with Services.open(Settings(data_dir=data_dir)) as services:
                row, attempts = delivery(services, job)
            if row["state"] != "pending" or time.monotonic() > deadline:
                break
            time.sleep(0.2)
    finally:
        second.send_signal(signal.SIGTERM)
        second.wait(timeout=30)
    assert row["state"] == "succeeded", attempts
    assert row["attempts"] == 2
    assert attempts[0]["error"] and "expired" in attempts[0]["error"]
    assert attempts[1]["exit_code"] == 0
    assert "deploying alias.added attempt 2" in attempts[1]["output_tail"]
    assert second.returncode == 0


def test_webhooks_logged_in_embedded_mode_are_delivered_by_the_agent(data_dir: Path) -> None:
    """No server ever runs over this data directory: the agent sends its webhook."""
    from support.receiver import Receiver

    secret = "whsec_" + base64.b64encode(b"agent-test-secret-0123456789abcd").decode()
    settings = Settings(data_dir=data_dir, allow_private_destinations=True)
    with Receiver() as receiver, Services.open(settings) as services:
        admin = services.auth.local_principal("alice")
        services.artifacts.commit_version(admin, "proj", "net", "model", ref_file("w"))
        services.automations.create(
            admin, "notify", "project:proj", "alias-added", "webhook",
            url=receiver.url + "/hook", signing_secret=secret,
        )  # fmt: skip
        services.artifacts.set_alias(admin, "proj", "net", "staging", "v0")
        assert receiver.requests == []  # logged, not sent: nobody dispatches here
        out = subprocess.run(
            [*AGENT, "--queue", "none", "--data-dir", str(data_dir), "--once",
             "--allow-private-destinations", "--", "true"],
            env=agent_env(data_dir), capture_output=True, text=True, timeout=120,
        )  # fmt: skip
        assert out.returncode == 0, out.stderr
        (got,) = receiver.wait_for(1)
    body = Webhook(secret).verify(got.body, got.headers)
    assert body["type"] == "alias.added" and body["data"]["alias"] == "staging"


def test_an_agent_over_http_runs_a_job_of_a_member_scope(tmp_path: Path) -> None:
    """The agent on another machine: MODELBAY_URL and a member's key, not the data dir."""
    from support.processes import ServerProcess

    record = tmp_path / "record"
    record.mkdir()
    server = ServerProcess(tmp_path / "server")
    try:
        with Services.open(Settings(data_dir=server.data_dir)) as services:
            admin = services.auth.local_principal("alice")
            key = services.auth.create_user(admin, "ci-bot")["key"]
            job = add_job(services, "deploy", project="models")
            services.access.add_member(admin, project="models", user="ci-bot", role="member")
        env = {**agent_env(record), "MODELBAY_URL": server.url, "MODELBAY_API_KEY": key}
        out = subprocess.run(
            [*AGENT, "--queue", "deploy", "--once", "--", sys.executable, "-c", JOB_SCRIPT],
            env=env, capture_output=True, text=True, timeout=120,
        )  # fmt: skip
        assert out.returncode == 0, out.stderr
        seen = json.loads((record / "attempt-1.json").read_text())
        assert seen["env"]["MODELBAY_EVENT_DELIVERY_ID"] == str(job)
        with Services.open(Settings(data_dir=server.data_dir)) as services:
            row, attempts = delivery(services, job)
        assert row["state"] == "succeeded"
        assert attempts[0]["exit_code"] == 0 and attempts[0]["request"]["agent"]
    finally:
        server.stop()
