"""Installs fit their use. Child processes run with the modules of some extras made absent
(a finder first on ``sys.meta_path`` refuses them, as an install without those extras
would), so that:

* ``import modelbay``, the embedded SDK and the CLI's other commands work without any extra,
  and never even try to import one's modules;
* ``modelbay server``, a PostgreSQL URL and an ``s3://`` blob store each fail with one line
  naming the ``pip install`` that brings what they lack.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from modelbay.extras import EXTRAS

ABSENT_FINDER = """
import atexit, importlib.abc, json, os, sys

ABSENT = set(os.environ["MODELBAY_TEST_ABSENT"].split())
TRIED = []


class Absent(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.partition(".")[0] in ABSENT:
            TRIED.append(name)
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return None


sys.meta_path.insert(0, Absent())
atexit.register(
    lambda: open(os.environ["MODELBAY_TEST_TRIED"], "w").write(json.dumps(sorted(set(TRIED))))
)
"""

SDK_SCRIPT = """
import modelbay

run = modelbay.init(project="lean")
run.config.update({"lr": 0.1})
for step in range(3):
    run.log({"acc": step / 3})
with open("model.txt", "w") as f:
    f.write("weights")
run.link_model(path="model.txt", registered_model_name="Lean")
run.finish()
api = modelbay.Api()
version = api.artifact("model-registry/Lean:latest")
print(version.version, sorted(p.name for p in __import__("pathlib").Path(version.download()).iterdir()))
"""


def run_without(
    absent: set[str], args: list[str], tmp_path: Path, **env: str
) -> tuple[subprocess.CompletedProcess[str], list[str]]:
    """Run ``python *args`` in ``tmp_path`` with the modules ``absent``; the result and the
    absent modules the child tried to import."""
    site = tmp_path / "absent-site"
    site.mkdir(exist_ok=True)
    (site / "sitecustomize.py").write_text(ABSENT_FINDER)
    tried = tmp_path / "tried.json"
    # Absolute: the child runs in tmp_path.
    inherited_path = [
        os.path.abspath(p) for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p
    ]
    child_env = {k: v for k, v in os.environ.items() if not k.startswith(("MODELBAY_", "AWS_"))}
    child_env.update(
        PYTHONPATH=os.pathsep.join([str(site), *inherited_path]),
        MODELBAY_TEST_ABSENT=" ".join(sorted(absent)),
        MODELBAY_TEST_TRIED=str(tried),
        MODELBAY_DIR=str(tmp_path / "data"),
        MODELBAY_CACHE_DIR=str(tmp_path / "cache"),
        COLUMNS="80",
        **env,
    )
    proc = subprocess.run(
        [sys.executable, *args],
        cwd=tmp_path,
        env=child_env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    return proc, json.loads(tried.read_text()) if tried.exists() else ["<finder did not run>"]


EVERY_EXTRA = {module for modules in EXTRAS.values() for module in modules}


def test_sdk_embedded_and_cli_need_no_extra(tmp_path: Path) -> None:
    proc, tried = run_without(EVERY_EXTRA, ["-c", textwrap.dedent(SDK_SCRIPT)], tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split()[0] == "v0" and "model.txt" in proc.stdout
    assert tried == []
    for args in (["--help"], ["registries", "--json"], ["models", "list", "--json"]):
        proc, tried = run_without(EVERY_EXTRA, ["-m", "modelbay", *args], tmp_path)
        assert proc.returncode == 0, (args, proc.stderr)
        assert tried == [], args
    assert "Lean" in proc.stdout


@pytest.mark.parametrize(
    ("extra", "args", "env"),
    [
        ("server", ["server", "--port", "9"], {}),
        ("postgres", ["registries"], {"MODELBAY_DB": "postgresql://nobody@127.0.0.1:9/none"}),
        ("s3", ["registries"], {"MODELBAY_BLOB_STORE": "s3://bucket/prefix"}),
    ],
)
def test_a_part_without_its_extra_says_what_to_install(
    tmp_path: Path, extra: str, args: list[str], env: dict[str, str]
) -> None:
    proc, _ = run_without(set(EXTRAS[extra]), ["-m", "modelbay", *args], tmp_path, **env)
    assert proc.returncode != 0
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), proc.stderr
    assert f"pip install 'modelbay[{extra}]'" in lines[0]
    assert "serving" not in proc.stdout and "admin" not in proc.stdout
