"""The data directory is the boundary of a single-machine deployment: the server and the
embedded SDK create it readable by their own OS user only (issue #15)."""

from __future__ import annotations

import stat
from pathlib import Path

from support.processes import ServerProcess

from modelbay.services import Services
from modelbay.settings import Settings


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_the_server_creates_its_data_directory_for_its_user_only(tmp_path: Path) -> None:
    data = tmp_path / "fresh" / "data"
    server = ServerProcess(data)
    try:
        assert mode(data) == 0o700
        assert "readable by other OS users" not in server.log_text()
    finally:
        server.stop()


def test_a_server_on_an_open_directory_warns(tmp_path: Path) -> None:
    data = tmp_path / "open"
    data.mkdir(mode=0o755)
    data.chmod(0o755)
    server = ServerProcess(data)
    try:
        assert "readable by other OS users" in server.log_text()
        assert mode(data) == 0o755  # left as its owner made it
    finally:
        server.stop()


def test_embedded_mode_creates_it_the_same_way_and_acts_as_the_os_user(tmp_path: Path) -> None:
    data = tmp_path / "embedded"
    settings = Settings(data_dir=data, user="someone")
    with Services.open(settings) as services:
        me = services.auth.local_principal(settings.user)
    assert mode(data) == 0o700
    assert me.name == "someone" and me.is_admin
