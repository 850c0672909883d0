"""A collection's listing page describes each version exactly as a single read does.

``services.core.link_infos`` builds a page from row tuples, ``link_info`` one version from
a dict row; this holds the two to one shape on SQLite and PostgreSQL, with every optional
part present somewhere: metadata, tags, aliases, a run, a TTL and a deleted source.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa
from support.workers import stored_file

from modelbay.names import ArtifactRef, RegistryRef
from modelbay.services import Services
from modelbay.services.core import LINK_ROW
from modelbay.settings import Settings
from modelbay.store.registry import LINK_COLUMNS
from modelbay.store.schema import artifact_versions


def test_the_row_order_is_the_stores_column_order() -> None:
    assert tuple(column.key for column in LINK_COLUMNS) == LINK_ROW


@pytest.mark.parametrize("limit", [1, 2, 1000])
def test_a_page_holds_what_each_version_reads_as(tmp_path: Path, db_url: str, limit: int) -> None:
    services = Services.open(Settings(data_dir=tmp_path, db_url=db_url))
    try:
        me = services.auth.local_principal("alice")
        run = services.runs.create(me, "proj", name="train")
        for i in range(5):
            services.artifacts.commit_version(
                me,
                "proj",
                "m",
                "model",
                [stored_file(services, me, f"content {i}", "model.bin")],
                description=f"number {i} ✓" if i % 2 else None,
                metadata={"acc": i / 10, "nested": {"x": [i]}} if i != 3 else None,
                tags=["fast", f"t{i}"] if i % 2 == 0 else None,
                run_id=run["id"] if i in (1, 4) else None,
            )
            services.registry.link(me, ArtifactRef("proj", "m", f"v{i}"), "model", "coll")
        services.registry.set_alias(me, "model", "coll", "production", "v1")
        services.registry.set_alias(me, "model", "coll", "staging", "v1")
        # Linking clears a TTL and refuses to delete a linked source; a version that gc or
        # an older server left so still lists, so both are written here directly.
        with services.db.write() as conn:
            first = conn.execute(sa.select(sa.func.min(artifact_versions.c.id))).scalar_one()
            for offset, change in (
                (2, {"expires_at": artifact_versions.c.created_at + 3600.5}),
                (3, {"deleted_at": artifact_versions.c.created_at}),
            ):
                conn.execute(
                    artifact_versions.update()
                    .where(artifact_versions.c.id == first + offset)
                    .values(**change)
                )

        listed, token = [], None
        while True:
            page = services.registry.list_versions(
                me, "model", "coll", limit=limit, page_token=token
            )
            listed.extend(page["versions"])
            token = page["next_page_token"]
            if token is None:
                break
        singles = [
            services.artifacts.get(me, RegistryRef("model", "coll", f"v{i}"))
            for i in range(4, -1, -1)
        ]
    finally:
        services.close()
    assert listed == singles
    assert {v["link"]["version"]: v["link"]["aliases"] for v in listed} == {
        "v4": ["latest"],
        "v3": [],
        "v2": [],
        "v1": ["production", "staging"],
        "v0": [],
    }
    assert [v["ttl"] for v in listed] == [None, None, 3600.5, None, None]
    assert [v["deleted"] for v in listed] == [False, True, False, False, False]
    assert listed[0]["run"] == {"project": "proj", "id": run["id"]}
    assert listed[4]["tags"] == ["fast", "t0"]
