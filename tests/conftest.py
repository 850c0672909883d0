"""Shared fixtures: real backends only.

* ``mb``: a modelbay endpoint for the SDK, parametrized over both transports: ``embedded``
  (SQLite file in a temporary data directory) and ``http`` (a ``modelbay server`` process on
  loopback, one per test session, with tests isolated by unique names).
* ``db_url``: a fresh metadata database, parametrized over SQLite and PostgreSQL (a
  throwaway cluster started by process id, one per session).
"""

from __future__ import annotations

import os
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from support.postgres import PostgresCluster, find_pg_bin  # noqa: E402
from support.processes import ServerProcess  # noqa: E402

from modelbay.sdk.transport import reset_transports  # noqa: E402
from modelbay.settings import Settings  # noqa: E402


@pytest.fixture(scope="session")
def pg_cluster() -> Iterator[PostgresCluster]:
    bindir = find_pg_bin()
    if bindir is None:
        pytest.skip("PostgreSQL binaries not installed (apt-get install postgresql)")
    cluster = PostgresCluster(bindir).start()
    try:
        yield cluster
    finally:
        cluster.stop()


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A fresh, empty metadata database of each kind."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'meta.db'}"
    cluster: PostgresCluster = request.getfixturevalue("pg_cluster")
    return cluster.create_database("t_" + uuid.uuid4().hex[:12])


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """One modelbay server on loopback for the session (embedded SQLite behind it)."""
    proc = ServerProcess(tmp_path_factory.mktemp("server-data"))
    try:
        yield proc
    finally:
        proc.stop()


@dataclass
class Endpoint:
    """Where the SDK under test talks to, and the environment that selects it."""

    kind: str
    settings: Settings
    env: dict[str, str]


@pytest.fixture(params=["embedded", "http"])
def mb(
    request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Endpoint]:
    """The SDK configured through the environment, as a user would, for each transport."""
    for name in list(os.environ):
        if name.startswith("MODELBAY_"):
            monkeypatch.delenv(name)
    env = {"MODELBAY_DIR": str(tmp_path / "home"), "MODELBAY_CACHE_DIR": str(tmp_path / "cache")}
    if request.param == "http":
        srv: ServerProcess = request.getfixturevalue("server")
        env.update({"MODELBAY_URL": srv.url, "MODELBAY_API_KEY": srv.admin_key})
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    monkeypatch.chdir(tmp_path)
    reset_transports()
    import modelbay

    modelbay.run = None
    try:
        yield Endpoint(request.param, Settings.from_env(), env)
    finally:
        if modelbay.run is not None:
            modelbay.run.finish()
        reset_transports()


@pytest.fixture
def uniq() -> str:
    """A suffix that keeps names apart on a server shared by the session."""
    return uuid.uuid4().hex[:8]
