"""Search filters (W&B's MongoDB-style operators) compiled to SQL, on SQLite and PostgreSQL.

Each test builds a few runs or registry versions through the services, then checks which
come back for a filter: the compiler is exercised the way the API uses it, on both
databases, including keyset pages, the caller's read rule and the typed errors.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from support.workers import stored_file

from modelbay.errors import InvalidFilterError, InvalidInputError, NotFoundError
from modelbay.names import ArtifactRef
from modelbay.services import Principal, Services
from modelbay.settings import Settings


@pytest.fixture
def services(tmp_path: Path, db_url: str) -> Iterator[Services]:
    found = Services.open(Settings(data_dir=tmp_path, db_url=db_url))
    try:
        yield found
    finally:
        found.close()


@pytest.fixture
def me(services: Services) -> Principal:
    return services.auth.local_principal("alice")


def _runs(services: Services, me: Principal) -> None:
    rows: list[tuple[str, dict[str, Any], dict[str, Any], list[str]]] = [
        ("a", {"lr": 0.1, "opt": "adam"}, {"acc": 0.5, "loss": 1.0}, ["base"]),
        ("b", {"lr": 0.01, "opt": "sgd"}, {"acc": 0.9}, ["base", "best"]),
        ("c", {"lr": 0.001, "opt": "adam", "nested": {"depth": 3}}, {"acc": "nan"}, []),
        ("d", {"lr": "auto"}, {"acc": 0.7, "flag": True}, ["other"]),
    ]
    for run_id, config, summary, tags in rows:
        services.runs.create(
            me, "proj", run_id=run_id, name=f"run-{run_id}", config=config, tags=tags
        )
        services.runs.update(
            me, "proj", run_id, summary=summary, state="finished" if run_id != "d" else "crashed"
        )


def _ids(page: dict[str, Any]) -> list[str]:
    return [r["id"] for r in page["runs"]]


def test_run_filters_run_in_the_database(services: Services, me: Principal) -> None:
    _runs(services, me)

    def ids(filters: Any, order: str = "+created_at") -> list[str]:
        return _ids(services.search.runs(me, "proj", filters, order))

    assert ids(None) == ["a", "b", "c", "d"]
    assert ids({"config.lr": 0.1}) == ["a"]
    assert ids({"config.lr.value": 0.01}) == ["b"]  # W&B's spelling of a config key
    assert ids({"config.lr": {"$lt": 0.05}}) == ["b", "c"]  # "auto" is not a number
    assert ids({"config.opt": {"$in": ["sgd", "adam"]}}) == ["a", "b", "c"]
    assert ids({"config.opt": {"$ne": "adam"}}) == ["b", "d"]  # missing matches $ne
    assert ids({"config.opt": {"$exists": False}}) == ["d"]
    assert ids({"config.nested.depth": {"$gte": 3}}) == ["c"]
    assert ids({"summary_metrics.acc": {"$gt": 0.6}}) == ["b", "d"]
    assert ids({"summary_metrics.flag": True}) == ["d"]
    assert ids({"state": "finished", "tags": "base"}) == ["a", "b"]
    assert ids({"tags": {"$in": ["best", "other"]}}) == ["b", "d"]
    assert ids({"tags": {"$nin": ["base"]}}) == ["c", "d"]
    assert ids({"tags": {"$exists": False}}) == ["c"]
    assert ids(
        {"$or": [{"display_name": "run-a"}, {"display_name": {"$regex": "^run-[cd]$"}}]}
    ) == [
        "a",
        "c",
        "d",
    ]
    assert ids({"$nor": [{"state": "crashed"}, {"config.lr": 0.1}]}) == ["b", "c"]
    assert ids({"config.opt": {"$not": {"$regex": "^ad"}}}) == ["b", "d"]
    assert ids({"display_name": {"$contains": "n-b"}}) == ["b"]
    assert ids({"$and": [{"tags": "base"}, {"$not": {"tags": "best"}}]}) == ["a"]
    future = (dt.datetime.now(dt.UTC) + dt.timedelta(days=1)).isoformat()
    assert ids({"createdAt": {"$lt": future}}) == ["a", "b", "c", "d"]
    assert ids({"created_at": {"$gt": future}}) == []
    # Numbers order; runs without a numeric value come last whatever the direction.
    assert ids(None, "-summary_metrics.acc") == ["b", "d", "a", "c"]
    assert ids(None, "+summary_metrics.acc") == ["a", "d", "b", "c"]


def test_run_pages_follow_the_order_without_gaps(services: Services, me: Principal) -> None:
    _runs(services, me)
    for order in ("-summary_metrics.acc", "+summary_metrics.acc", "-created_at", "state"):
        whole = _ids(services.search.runs(me, "proj", None, order, limit=100))
        paged: list[str] = []
        token = None
        while True:
            page = services.search.runs(me, "proj", None, order, limit=1, page_token=token)
            paged += _ids(page)
            token = page["next_page_token"]
            if not token:
                break
        assert paged == whole and sorted(whole) == ["a", "b", "c", "d"], order


@pytest.mark.parametrize(
    "bad",
    [
        {"nope": 1},
        {"state": {"$near": 1}},
        {"$or": []},
        {"$or": {"state": "x"}},
        {"state": {"$regex": "("}},
        {"state": {"$exists": "yes"}},
        {"created_at": {"$gt": "yesterday"}},
        {"tags": {"$in": "base"}},
        {"config.": 1},
        {"state": {"$eq": 1, "x": 2}},
        {"sweep": "s"},
        {"display_name": {"$regex": "(?P<x>run)"}},
        {"tags": {"$in": ["t"] * 1001}},
    ],
)
def test_a_bad_filter_is_a_typed_error(services: Services, me: Principal, bad: Any) -> None:
    _runs(services, me)
    with pytest.raises(InvalidFilterError) as caught:
        services.search.runs(me, "proj", bad)
    assert caught.value.details["at"].startswith("filter")


def test_bad_orders_and_tokens_are_refused(services: Services, me: Principal) -> None:
    _runs(services, me)
    with pytest.raises(InvalidFilterError):
        services.search.runs(me, "proj", None, "-tags")
    with pytest.raises(InvalidInputError):
        services.search.runs(me, "proj", None, page_token="garbage!")
    by_name = services.search.runs(me, "proj", None, "display_name", limit=1)
    with pytest.raises(InvalidInputError):  # a name where a time is ordered
        services.search.runs(me, "proj", None, page_token=by_name["next_page_token"])


def _registry_world(services: Services, me: Principal) -> None:
    for index, (coll, meta, tags) in enumerate(
        [
            ("yolo-small", {"acc": 0.8, "arch": "yolo"}, ["prod"]),
            ("yolo-large", {"acc": 0.95, "arch": "yolo"}, []),
            ("bert", {"acc": 0.7, "arch": "transformer"}, ["prod", "nlp"]),
        ]
    ):
        entry = stored_file(services, me, f"weights {index}")
        services.artifacts.commit_version(
            me, "proj", f"m{index}", "model", [entry], metadata=meta, tags=tags
        )
        services.registry.link(
            me,
            ArtifactRef("proj", f"m{index}", "v0"),
            "model",
            coll,
            aliases=["production"] if coll == "bert" else None,
        )
    services.registry.update_collection(
        me, "model", "bert", description="a text model", tags=["nlp"]
    )


def test_registry_chain_filters(services: Services, me: Principal) -> None:
    _registry_world(services, me)
    search = services.search
    names = [r["name"] for r in search.registries(me, {"name": {"$regex": "mod"}})["registries"]]
    assert names == ["model"]

    def colls(flt: Any, reg: Any = None) -> list[str]:
        return sorted(c["name"] for c in search.collections(me, reg, flt)["collections"])

    assert colls({"name": {"$regex": "yolo"}}) == ["yolo-large", "yolo-small"]
    assert colls({"tag": "nlp"}) == ["bert"]
    assert colls({"description": {"$contains": "text"}}) == ["bert"]
    assert colls({"name": "bert"}, {"name": "dataset"}) == []

    def versions(flt: Any, coll: Any = None) -> list[str]:
        page = search.versions(me, None, coll, flt)
        return sorted(v["link"]["collection"] for v in page["versions"])

    assert versions({"metadata.acc": {"$gt": 0.75}}) == ["yolo-large", "yolo-small"]
    assert versions({"$or": [{"tag": "prod"}, {"alias": "production"}]}) == ["bert", "yolo-small"]
    assert versions({"alias": {"$ne": "production"}}) == ["yolo-large", "yolo-small"]
    assert versions({"metadata.arch": "yolo"}, {"name": "yolo-small"}) == ["yolo-small"]
    assert versions({"alias": "latest", "tag": {"$exists": False}}) == ["yolo-large"]
    today = dt.date.today().isoformat()
    assert len(versions({"created_at": {"$gte": today}})) == 3
    with pytest.raises(InvalidFilterError):
        search.versions(me, None, None, {"updated_at": {"$gt": today}})


def test_project_artifact_versions_by_tag(services: Services, me: Principal) -> None:
    for index, tags in enumerate([["a"], ["b"], ["a", "b"]]):
        entry = stored_file(services, me, f"data {index}")
        services.artifacts.commit_version(me, "proj", "ds", "dataset", [entry], tags=tags)

    def versions(flt: Any, **kw: Any) -> list[str]:
        page = services.search.artifact_versions(me, "proj", "ds", filter=flt, **kw)
        return [v["version"] for v in page["versions"]]

    assert versions(None) == ["v2", "v1", "v0"]
    assert versions({"tag": {"$in": ["a"]}}) == ["v2", "v0"]
    assert versions(None, limit=2) == ["v2", "v1"]
    with pytest.raises(NotFoundError):
        services.search.artifact_versions(me, "proj", "ds", type="model")


def test_searches_show_only_what_the_caller_may_read(services: Services, me: Principal) -> None:
    _registry_world(services, me)
    admin = me  # the embedded user is an admin
    services.registry.create_registry(admin, "secret", None, None)
    services.access.update_registry(admin, "secret", visibility="restricted")
    entry = stored_file(services, me, "secret weights")
    services.artifacts.commit_version(me, "proj", "s", "model", [entry])
    services.registry.link(admin, ArtifactRef("proj", "s", "v0"), "secret", "hidden")
    bob = services.auth.authenticate(services.auth.create_user(admin, "bob")["key"])
    assert not bob.is_admin
    assert "secret" in [r["name"] for r in services.search.registries(admin)["registries"]]
    assert "secret" not in [r["name"] for r in services.search.registries(bob)["registries"]]
    hidden = {"name": "hidden"}
    assert services.search.collections(admin, None, hidden)["collections"]
    assert services.search.collections(bob, None, hidden)["collections"] == []
    assert services.search.versions(bob, None, hidden)["versions"] == []


def test_a_backtracking_regex_is_cut_off_with_a_typed_error(
    services: Services, me: Principal, monkeypatch: pytest.MonkeyPatch
) -> None:
    """SQLite's REGEXP runs under the search's deadline; PostgreSQL's regular expressions
    run under its statement_timeout (the next test). Either way the caller hears why."""
    from modelbay.store import bounded

    services.runs.create(me, "proj", run_id="slow", name="a" * 40 + "!")
    services.runs.create(me, "proj", run_id="fast", name="ab")
    monkeypatch.setattr(bounded, "SEARCH_SECONDS", 0.5)
    assert _ids(services.search.runs(me, "proj", {"display_name": {"$regex": "^a+b$"}})) == ["fast"]
    if services.db.is_sqlite:
        with pytest.raises(InvalidFilterError) as caught:
            services.search.runs(me, "proj", {"display_name": {"$regex": "(a|aa)+$"}})
        assert caught.value.details["reason"] == "too_slow"
    with pytest.raises(InvalidFilterError):  # a pattern too long to be taken at all
        services.search.runs(me, "proj", {"display_name": {"$regex": "a" * 513}})


def test_a_search_statement_past_its_bound_is_cancelled(services: Services) -> None:
    from modelbay.store import bounded

    slow = "SELECT pg_sleep(2)" if not services.db.is_sqlite else None
    with services.db.read() as conn:
        if slow is None:  # SQLite: the bound is on REGEXP, which reaches its deadline
            with pytest.raises(bounded.TooSlowError), bounded.bounded(conn, 0.2):
                conn.exec_driver_sql("SELECT ? REGEXP ?", ("a" * 40 + "!", "(a|aa)+$")).all()
            return
        with pytest.raises(bounded.TooSlowError), bounded.bounded(conn, 0.2):
            conn.exec_driver_sql(slow).all()


def test_registries_and_versions_page_in_any_order(services: Services, me: Principal) -> None:
    _registry_world(services, me)
    for name in ("zz", "aa", "mm"):
        services.registry.create_registry(me, name)
    search = services.search

    def paged(kind: str, order: str) -> list[str]:
        out: list[str] = []
        token = None
        while True:
            page = getattr(search, kind)(me, limit=1, page_token=token, order=order)
            for item in page[kind]:
                out.append(item["name"] if kind != "versions" else item["link"]["collection"])
            token = page["next_page_token"]
            if not token:
                return out

    regs = paged("registries", "+name")
    assert regs == sorted(regs) and {"aa", "mm", "zz", "model"} <= set(regs)
    assert paged("registries", "-name") == regs[::-1]
    assert paged("collections", "-name") == ["yolo-small", "yolo-large", "bert"]
    assert paged("versions", "linked_at") == ["yolo-small", "yolo-large", "bert"]
    with pytest.raises(InvalidFilterError):
        search.collections(me, order="tag")
