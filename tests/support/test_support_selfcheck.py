"""Self-checks of the test helpers: a real PostgreSQL cluster and a stand-in server."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa

from . import postgres as pgsupport
from .postgres import PostgresCluster, find_pg_bin, require_pg_bin
from .processes import (
    DEFAULT_COMMAND,
    ServerProcess,
    ServerStartError,
    descendants,
    free_port,
    group_alive,
    process_alive,
    wait_http_ok,
)

postgres_cluster = pgsupport.postgres_cluster  # the shared session fixture


def pid_gone(pid: int) -> bool:
    return not process_alive(pid)  # an unreaped zombie counts as gone


def group_gone(pgid: int) -> bool:
    return not group_alive(pgid)


def wait_gone(pid: int, timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while not pid_gone(pid):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True


# -- PostgreSQL ------------------------------------------------------------------------


def test_find_pg_bin() -> None:
    bindir = require_pg_bin()
    assert bindir == find_pg_bin()
    assert (bindir / "initdb").exists() and (bindir / "postgres").exists()


def test_require_pg_bin_skips_only_without_binaries(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(pgsupport, "find_pg_bin", lambda: None)
    with pytest.raises(pytest.skip.Exception, match="PostgreSQL binaries not found"):
        require_pg_bin()
    assert "SKIP: PostgreSQL binaries not found" in capsys.readouterr().err


def test_cluster_start_query_stop_leaves_nothing() -> None:
    require_pg_bin()
    cluster = PostgresCluster().start()
    try:
        pid, root, port = cluster.pid, cluster.root, cluster.port
        assert pid is not None and root is not None and port is not None
        assert cluster.running and root.is_dir()
        assert str(root).startswith("/tmp/")

        url = cluster.create_database("selfcheck_db")
        assert url == f"postgresql+psycopg://postgres@127.0.0.1:{port}/selfcheck_db"
        engine = sa.create_engine(url)
        with engine.begin() as conn:
            conn.execute(sa.text("CREATE TABLE t (id int primary key, name text)"))
            conn.execute(sa.text("INSERT INTO t VALUES (1, 'a'), (2, 'b')"))
        with engine.connect() as conn:
            assert conn.execute(sa.text("SELECT count(*) FROM t")).scalar_one() == 2
            settings: dict[str, str] = dict(
                conn.execute(
                    sa.text(
                        "SELECT name, setting FROM pg_settings WHERE name IN "
                        "('fsync', 'synchronous_commit', 'full_page_writes', "
                        "'max_connections', 'listen_addresses')"
                    )
                ).all()
            )
            backend_pid = conn.execute(sa.text("SELECT pg_backend_pid()")).scalar_one()
        assert settings == {
            "fsync": "off",
            "synchronous_commit": "off",
            "full_page_writes": "off",
            "max_connections": "200",
            "listen_addresses": "127.0.0.1",
        }
        # The postmaster is our direct child, leading its own process group.
        assert os.getpgid(pid) == pid
        assert backend_pid in [p for p, _ in descendants(pid)]
        # A pooled connection is still open: stop() must not wait for it to close.
        t0 = time.monotonic()
    finally:
        cluster.stop()
    assert time.monotonic() - t0 < 5
    assert pid_gone(pid) and pid_gone(backend_pid) and group_gone(pid)
    assert not root.exists()
    assert cluster.pid is None and not cluster.running
    cluster.stop()  # idempotent
    engine.dispose()


def test_cluster_stop_falls_back_to_sigkill() -> None:
    """A postmaster that does not react to the shutdown signal is killed, with its backends."""
    require_pg_bin()
    cluster = PostgresCluster(stop_timeout=1.0).start()
    engine = sa.create_engine(cluster.create_database("stuck"))
    try:
        with engine.connect() as conn:
            backend_pid = conn.execute(sa.text("SELECT pg_backend_pid()")).scalar_one()
            pid = cluster.pid
            assert pid is not None
            children = descendants(pid)
            os.kill(pid, signal.SIGSTOP)  # the SIGINT stays pending: only SIGKILL works
            t0 = time.monotonic()
            cluster.stop()
            assert time.monotonic() - t0 < 5
            assert pid_gone(pid) and pid_gone(backend_pid)
            assert not any(process_alive(*c) for c in children)
            conn.invalidate()  # its server is gone; closing it must not try a ROLLBACK
    finally:
        cluster.stop()
        engine.dispose()


def test_two_clusters_side_by_side() -> None:
    """What several xdist workers do: each cluster gets its own port and directory."""
    require_pg_bin()
    with PostgresCluster() as a, PostgresCluster() as b:
        assert a.port != b.port and a.root != b.root
        for cluster in (a, b):
            with sa.create_engine(cluster.create_database("same_name")).connect() as conn:
                assert conn.execute(sa.text("SELECT 1")).scalar_one() == 1
        pids = [a.pid, b.pid]
    assert all(pid is not None and pid_gone(pid) for pid in pids)


def test_session_fixture_and_database_names(postgres_cluster: PostgresCluster) -> None:
    url = postgres_cluster.create_database("fixture_db")
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            assert conn.execute(sa.text("SELECT current_database()")).scalar_one() == ("fixture_db")
    finally:
        engine.dispose()
    postgres_cluster.drop_database("fixture_db")
    for bad in ("", "a-b", 'x"; DROP', "a" * 64):
        with pytest.raises(ValueError):
            postgres_cluster.create_database(bad)


# -- processes -------------------------------------------------------------------------

STAND_IN = textwrap.dedent(
    '''
    """Stand-in for `modelbay server`: answers /api/v1/health; STANDIN_MODE picks a fault."""
    import argparse, json, os, signal, subprocess, sys, time
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    parser = argparse.ArgumentParser()
    parser.add_argument("--host", required=True)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--data-dir", required=True)
    parser.add_argument("--db")
    opts, rest = parser.parse_known_args()
    mode = os.environ.get("STANDIN_MODE", "ok")
    print("stand-in starting", mode, flush=True)
    if mode == "crash":
        print("boom: cannot open the data directory", file=sys.stderr, flush=True)
        sys.exit(3)
    if mode == "ignore-term":
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):
            if self.path == "/api/v1/health":
                code = 503 if mode == "unhealthy" else 200
                body = {"status": "ok" if code == 200 else "starting"}
            elif self.path == "/info":
                code, body = 200, {
                    "argv": sys.argv[1:], "data_dir": opts.data_dir, "db": opts.db,
                    "rest": rest, "child": child.pid,
                    "env": {k: v for k, v in os.environ.items() if k.startswith(
                        ("MODELBAY_", "STANDIN_"))},
                }
            else:
                code, body = 404, {"error": "not found"}
            data = json.dumps(body).encode()
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

    ThreadingHTTPServer((opts.host, opts.port), Handler).serve_forever()
    '''
)


@pytest.fixture
def stand_in(tmp_path: Path) -> list[str]:
    script = tmp_path / "stand_in.py"
    script.write_text(STAND_IN)
    return [sys.executable, str(script)]


def test_free_port_is_bindable() -> None:
    port = free_port()
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", port))


def test_wait_http_ok_times_out() -> None:
    port = free_port()  # nothing listens here
    t0 = time.monotonic()
    with pytest.raises(TimeoutError, match="did not answer 200"):
        wait_http_ok(f"http://127.0.0.1:{port}/api/v1/health", timeout=0.5)
    assert time.monotonic() - t0 < 5


def test_server_process_start_and_stop(
    stand_in: list[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MODELBAY_URL", "http://leaked.invalid")  # must not reach the child
    server = ServerProcess(
        tmp_path / "data",
        db_url="postgresql+psycopg://postgres@127.0.0.1:1/x",
        extra_env={"STANDIN_MODE": "ok", "MODELBAY_EXTRA": "1"},
        args=["--workers", "1"],
        command=stand_in,
    )
    try:
        assert server.running
        assert server.url == f"http://127.0.0.1:{server.port}"
        assert os.getpgid(server.pid) == server.pid  # its own process group
        info = httpx.get(server.url + "/info", trust_env=False).json()
        assert info["argv"] == [
            "--host", "127.0.0.1", "--port", str(server.port),
            "--data-dir", str(tmp_path / "data"),
            "--db", "postgresql+psycopg://postgres@127.0.0.1:1/x",
            "--workers", "1",
        ]  # fmt: skip
        assert info["env"] == {
            "MODELBAY_ADMIN_KEY": server.admin_key,
            "MODELBAY_EXTRA": "1",
            "STANDIN_MODE": "ok",
        }
        assert len(server.admin_key) >= 32
        pid, child = server.pid, info["child"]
        assert os.getpgid(child) == pid
        log_path = server.log_path
        assert "stand-in starting ok" in server.log_text()
    finally:
        code = server.stop()
    assert code == -signal.SIGTERM
    assert pid_gone(pid)
    assert wait_gone(child), "a child of the server outlived stop()"
    assert not log_path.exists()  # its own temp log is removed
    assert not server.running
    assert server.stop() is None  # idempotent


def test_server_process_kill_and_restart(stand_in: list[str], tmp_path: Path) -> None:
    with ServerProcess(tmp_path / "d", command=stand_in, keep_log=True) as server:
        port, key, pid = server.port, server.admin_key, server.pid
        assert server.kill() == -signal.SIGKILL
        assert pid_gone(pid) and not server.running
        with pytest.raises(httpx.TransportError):
            httpx.get(server.url + "/api/v1/health", trust_env=False)
        server.restart()
        assert server.running and server.pid != pid
        assert server.port == port and server.admin_key == key
        assert httpx.get(server.url + "/api/v1/health", trust_env=False).status_code == 200
        pid = server.pid
    assert pid_gone(pid)
    assert server.log_path.exists()  # keep_log=True
    assert server.log_text().count("$ ") == 2  # both command lines were logged
    server.log_path.unlink()


def test_server_process_sigkill_after_timeout(stand_in: list[str], tmp_path: Path) -> None:
    server = ServerProcess(
        tmp_path / "d", extra_env={"STANDIN_MODE": "ignore-term"}, command=stand_in
    )
    pid = server.pid
    t0 = time.monotonic()
    assert server.stop(timeout=0.5) == -signal.SIGKILL
    assert time.monotonic() - t0 < 5
    assert pid_gone(pid) and group_gone(pid)


def test_server_process_startup_crash_shows_log(stand_in: list[str], tmp_path: Path) -> None:
    with pytest.raises(ServerStartError) as info:
        ServerProcess(tmp_path / "d", extra_env={"STANDIN_MODE": "crash"}, command=stand_in)
    message = str(info.value)
    assert "exited with code 3" in message
    assert "boom: cannot open the data directory" in message  # the log tail


def test_server_process_unhealthy_times_out(stand_in: list[str], tmp_path: Path) -> None:
    before = set(_children())
    with pytest.raises(ServerStartError, match="HTTP 503"):
        ServerProcess(
            tmp_path / "d",
            extra_env={"STANDIN_MODE": "unhealthy"},
            command=stand_in,
            startup_timeout=1.0,
        )
    assert wait_gone_all(set(_children()) - before)


def _children() -> list[int]:
    return [pid for pid, _ in descendants(os.getpid())]


def wait_gone_all(pids: set[int]) -> bool:
    return all(wait_gone(pid) for pid in pids)


def _modelbay_server_available() -> bool:
    try:
        result = subprocess.run(
            [*DEFAULT_COMMAND, "--help"], capture_output=True, timeout=60, check=False
        )
    except (OSError, subprocess.SubprocessError):
        return False
    return result.returncode == 0 and b"--data-dir" in result.stdout


def test_server_process_real_modelbay(tmp_path: Path) -> None:
    """Against the real `python -m modelbay server` once it exists."""
    if not _modelbay_server_available():
        pytest.skip("`python -m modelbay server --help` does not work yet")
    with ServerProcess(tmp_path / "data") as server:
        response = httpx.get(server.url + "/api/v1/health", trust_env=False)
        assert response.status_code == 200
        pid = server.pid
    assert pid_gone(pid)
