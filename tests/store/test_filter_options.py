"""MongoDB's ``$options`` beside ``$regex`` in W&B filters (issue #17), on SQLite and
PostgreSQL: ``"i"`` matches case-insensitively in the database; other flags are refused."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from modelbay.errors import InvalidFilterError
from modelbay.services import Services
from modelbay.settings import Settings


@pytest.fixture
def services(tmp_path: Path, db_url: str) -> Iterator[Services]:
    found = Services.open(Settings(data_dir=tmp_path, db_url=db_url))
    try:
        yield found
    finally:
        found.close()


def test_regex_options_i_ignores_case(services: Services) -> None:
    me = services.auth.local_principal("alice")
    for run_id, name, opt in (
        ("a", "ResNet-50", "Adam"),
        ("b", "resnet-18", "sgd"),
        ("c", "ViT", "adamw"),
    ):
        services.runs.create(me, "proj", run_id=run_id, name=name, config={"opt": opt})

    def ids(flt: dict[str, Any]) -> list[str]:
        return sorted(r["id"] for r in services.search.runs(me, "proj", flt)["runs"])

    assert ids({"display_name": {"$regex": "^resnet"}}) == ["b"]
    assert ids({"display_name": {"$regex": "^resnet", "$options": "i"}}) == ["a", "b"]
    assert ids({"config.opt": {"$regex": "^adam", "$options": "i"}}) == ["a", "c"]
    assert ids({"display_name": {"$not": {"$regex": "RESNET", "$options": "i"}}}) == ["c"]
    assert ids({"display_name": {"$regex": "vit", "$options": ""}}) == []
    for bad in (
        {"$regex": "x", "$options": "m"},
        {"$options": "i"},
        {"$regex": "x", "$options": 1},
    ):
        with pytest.raises(InvalidFilterError):
            services.search.runs(me, "proj", {"display_name": bad})
