"""W&B's own documented code, run against modelbay with only its import line changed.

Every ``examples/*.py`` is a script taken from W&B's public documentation or examples
(its source is named in a comment at its top), changed only in its import line
(``import modelbay as wandb``) and its placeholders. Each runs in a subprocess twice:

* ``embedded``: a fresh ``MODELBAY_DIR`` (SQLite and files on disk, no server);
* ``http``: a fresh ``modelbay server`` (``tests/support/processes.py``) reached through
  ``MODELBAY_URL`` and its key.

Each run gets its own data directory and working directory, so examples that reuse W&B's
fixed names (``my-project``, ``model-registry/...``) never meet. An example fails the test
when it exits non-zero; its output is in the failure message. The file name says whose
area an example belongs to: ``sdk_``, ``api_``, ``registry_``, ``automation_``.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent.parent))

from support.processes import ServerProcess  # noqa: E402

EXAMPLES = Path(__file__).parent / "examples"
SCRIPTS = sorted(EXAMPLES.glob("*.py"))
TIMEOUT = 180.0


def test_every_example_names_its_source_and_imports_modelbay() -> None:
    """The rules of the suite: a source comment at the top, and modelbay under W&B's name."""
    assert len(SCRIPTS) > 0
    for script in SCRIPTS:
        text = script.read_text()
        head = "\n".join(text.splitlines()[:6])
        assert "# Source:" in head, f"{script.name}: no '# Source:' comment at its top"
        assert "import modelbay as wandb" in text, f"{script.name}: does not import modelbay"
        assert "import wandb\n" not in text, f"{script.name}: imports the real wandb"


@pytest.fixture(params=["embedded", "http"])
def endpoint(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[dict[str, str]]:
    """The environment of one example run: a fresh embedded data directory, or a fresh
    server and its key."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MODELBAY_", "WANDB_"))}
    env["MODELBAY_DIR"] = str(tmp_path / "home")
    env["MODELBAY_CACHE_DIR"] = str(tmp_path / "cache")
    env["PYTHONUNBUFFERED"] = "1"
    if request.param == "embedded":
        yield env
        return
    server = ServerProcess(tmp_path / "server-data")
    try:
        env["MODELBAY_URL"] = server.url
        env["MODELBAY_API_KEY"] = server.admin_key
        yield env
    finally:
        server.stop()


@pytest.mark.parametrize("script", SCRIPTS, ids=[s.stem for s in SCRIPTS])
def test_example_runs(script: Path, endpoint: dict[str, str], tmp_path: Path) -> None:
    work = tmp_path / "work"
    work.mkdir()
    result = subprocess.run(
        [sys.executable, str(script)],
        cwd=work,
        env=endpoint,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
    )
    assert result.returncode == 0, (
        f"{script.name} exited with {result.returncode}\n"
        f"--- stdout ---\n{result.stdout[-4000:]}\n--- stderr ---\n{result.stderr[-6000:]}"
    )
