"""Completing many uploads in one call (``BlobService.complete_many``), on the disk store: open
one-part sessions of new blobs are claimed, checked and recorded together, and each still
gets the outcome it would get alone; an error of the store's fails its own upload only, an
unexpected one is raised once every id was tried, and no claim is left held."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from modelbay.services import Services
from modelbay.services.core import Principal
from modelbay.settings import Settings
from modelbay.store.schema import blobs, uploads


@pytest.fixture
def services(tmp_path: Path) -> Iterator[Services]:
    with Services.open(Settings(data_dir=tmp_path / "data")) as services:
        yield services


@pytest.fixture
def me(services: Services) -> Principal:
    return services.auth.local_principal("uploader")


def sent(services: Services, me: Principal, data: bytes) -> str:
    """A provisional session with all of ``data`` sent to it; returns its id."""
    session = services.blobs.begin_uploads(me, [{"size": len(data)}])["provisional"][0]
    for part in session["parts"]:
        with services.blobs.part_writer(me, session["id"], part["number"]) as writer:
            writer.write(data[part["offset"] : part["offset"] + part["size"]])
            writer.commit()
    return str(session["id"])


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def states(services: Services, ids: list[str]) -> dict[str, str]:
    with services.db.read() as conn:
        rows = conn.execute(sa.select(uploads.c.id, uploads.c.state).where(uploads.c.id.in_(ids)))
        return {r.id: r.state for r in rows}


def live(services: Services, digests: list[str]) -> set[str]:
    with services.db.read() as conn:
        rows = conn.execute(
            sa.select(blobs.c.sha256).where(blobs.c.sha256.in_(digests), blobs.c.state == "live")
        )
        return {r.sha256 for r in rows}


def errors(results: list[dict[str, Any]]) -> dict[str, str | None]:
    return {r["id"]: (r["error"] or {}).get("code") for r in results}


def test_every_upload_gets_its_own_outcome(services: Services, me: Principal) -> None:
    new = [os.urandom(1000 + i) for i in range(5)]
    ids = [sent(services, me, data) for data in new]
    stored_before = os.urandom(500)
    services.blobs.put_stream(me, sha(stored_before), [stored_before])
    again = sent(services, me, stored_before)
    nameless = sent(services, me, os.urandom(10))
    claims = {i: sha(d) for i, d in zip(ids, new, strict=True)} | {again: sha(stored_before)}
    asked = [*ids, again, nameless, "unknown0", "../../etc", ids[0]]

    results = services.blobs.complete_many(me, asked, claims)

    assert [r["id"] for r in results] == asked
    assert errors(results) == {
        **dict.fromkeys(ids),
        again: None,
        nameless: "invalid_input",  # a provisional session must be named
        "unknown0": "not_found",
        "../../etc": "invalid_input",
    }
    assert [r["sha256"] for r in results[:5]] == [sha(d) for d in new]
    assert results[-1] == results[0]  # asked twice, completed once
    assert live(services, [sha(d) for d in new]) == {sha(d) for d in new}
    assert states(services, [*ids, again, nameless]) == {
        **dict.fromkeys([*ids, again], "done"),
        nameless: "open",
    }
    for data in new:
        assert services.backend.path(sha(data)).read_bytes() == data


def test_bytes_not_matching_their_digest_fail_only_their_upload(
    services: Services, me: Principal
) -> None:
    good, bad = os.urandom(3000), os.urandom(3000)
    ids = [sent(services, me, good), sent(services, me, bad)]
    wrong = sha(b"something else")

    results = services.blobs.complete_many(me, ids, {ids[0]: sha(good), ids[1]: wrong})

    assert errors(results) == {ids[0]: None, ids[1]: "digest_mismatch"}
    assert states(services, ids) == {ids[0]: "done", ids[1]: "failed"}
    assert live(services, [sha(good), wrong, sha(bad)]) == {sha(good)}


def test_a_blob_being_collected_fails_only_its_upload(services: Services, me: Principal) -> None:
    keep, collected = os.urandom(2000), os.urandom(2000)
    services.blobs.put_stream(me, sha(collected), [collected])
    ids = [sent(services, me, keep), sent(services, me, collected)]
    with services.db.write() as conn:  # GC has marked it and is about to remove the bytes
        conn.execute(
            blobs.update().where(blobs.c.sha256 == sha(collected)).values(state="deleting")
        )

    results = services.blobs.complete_many(me, ids, {ids[0]: sha(keep), ids[1]: sha(collected)})

    assert errors(results) == {ids[0]: None, ids[1]: "conflict"}
    assert states(services, ids) == {ids[0]: "done", ids[1]: "aborted"}
    assert live(services, [sha(keep), sha(collected)]) == {sha(keep)}


def test_an_unexpected_store_failure_leaves_no_claim_held(
    services: Services, me: Principal, monkeypatch: pytest.MonkeyPatch
) -> None:
    datas = [os.urandom(1500), os.urandom(1500), os.urandom(1500)]
    ids = [sent(services, me, d) for d in datas]
    claims = {i: sha(d) for i, d in zip(ids, datas, strict=True)}
    stored_before = os.urandom(700)  # completed on its own, after the batch
    services.blobs.put_stream(me, sha(stored_before), [stored_before])
    alone = sent(services, me, stored_before)
    finish = services.backend.finish

    def flaky(session: Any) -> None:
        if session.id == ids[1]:
            raise OSError("disk went away")
        finish(session)

    monkeypatch.setattr(services.backend, "finish", flaky)
    with pytest.raises(OSError, match="disk went away"):
        services.blobs.complete_many(me, [*ids, alone], {**claims, alone: sha(stored_before)})
    assert states(services, [*ids, alone]) == {
        ids[0]: "done",
        ids[1]: "open",
        ids[2]: "done",
        alone: "done",
    }

    monkeypatch.setattr(services.backend, "finish", finish)
    results = services.blobs.complete_many(me, ids, claims)
    assert errors(results) == dict.fromkeys(ids)
    assert live(services, list(claims.values())) == set(claims.values())


def test_a_completion_whose_claim_was_taken_over_does_not_settle_the_upload(
    services: Services, me: Principal, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A completion slower than its claim's life: another client takes the upload over, and
    whatever the first then concludes must not overwrite the second's outcome."""
    from modelbay.services import blobs as service

    data = os.urandom(2000)
    upload_id = sent(services, me, data)
    finish = services.backend.finish
    outcomes: list[str] = []

    def slow_then_failing(session: Any) -> None:
        if not outcomes:  # the first completion: its claim goes stale, then its check fails
            outcomes.append("first")
            monkeypatch.setattr(service, "CLAIM_SECONDS", 0.0)
            outcomes.append(str(services.blobs.complete(me, upload_id, sha(data))["stored"]))
            raise OSError("the first completion's store went away")
        finish(session)

    monkeypatch.setattr(services.backend, "finish", slow_then_failing)
    with pytest.raises(OSError):
        services.blobs.complete(me, upload_id, sha(data))
    assert outcomes == ["first", "True"]  # the second completion took over and stored it
    assert states(services, [upload_id]) == {upload_id: "done"}  # not reopened by the first
    assert live(services, [sha(data)]) == {sha(data)}
