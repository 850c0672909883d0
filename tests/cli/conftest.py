"""Fixtures of the CLI tests: a registered model with three versions, logged with the SDK."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

import modelbay


@dataclass
class Model:
    project: str
    name: str  # the collection's name, M<uniq>
    path: str  # model-registry/M<uniq>
    artifact: str  # p<uniq>/net
    run: str  # p<uniq>/<run id>


@pytest.fixture
def model(mb: Any, uniq: str, tmp_path: Path) -> Model:
    """Collection M<uniq> with v0..v2 linked from artifact p<uniq>/net v0..v2; ``staging`` on v1."""
    run = modelbay.init(project=f"p{uniq}")
    weights = tmp_path / "model.bin"
    for i in range(3):
        weights.write_text(f"weights {i} {uniq}")
        run.link_model(weights, f"M{uniq}", name="net", aliases=["staging"] if i == 1 else None)
    run.finish()
    return Model(f"p{uniq}", f"M{uniq}", f"model-registry/M{uniq}", f"p{uniq}/net", run.path)
