"""The roles mode of ``bench/registry.py``: a user reaching 50 of 1,000 restricted
registries through 5 teams, and how their figures compare with the admin's and MLflow's."""

from __future__ import annotations

import statistics
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from _common import log, ratio

ROLE_REGISTRIES, ROLE_TEAMS, REACHED_PER_TEAM = 1000, 5, 10


def roles_world(
    url: str, admin: Any, threads: int, client: Callable[[str, str], Any]
) -> tuple[str, str, dict[str, Any]]:
    """1,000 restricted registries; a user in 5 teams, each team a member of 10 of them
    (untimed setup). Returns the user's key, the registry the workload uses, and what was
    made."""
    t0 = time.perf_counter()
    names = [f"r{i:04d}" for i in range(ROLE_REGISTRIES)]

    def create(name: str) -> None:
        admin.call("POST", "/registries", json={"name": name, "visibility": "restricted"})

    with ThreadPoolExecutor(threads) as pool:
        list(pool.map(create, names))
    user = f"bench-user-{uuid.uuid4().hex[:6]}"
    key = admin.call("POST", "/users", json={"name": user})["key"]
    reached: list[str] = []
    step = ROLE_REGISTRIES // (ROLE_TEAMS * REACHED_PER_TEAM)
    for t in range(ROLE_TEAMS):
        team = f"team-{t}-{user}"
        admin.call("POST", "/teams", json={"name": team})
        admin.call("PUT", f"/teams/{team}/members/{user}")
        # A few other users in each team, as teams have.
        for other in range(3):
            name = f"{team}-m{other}"
            admin.call("POST", "/users", json={"name": name})
            admin.call("PUT", f"/teams/{team}/members/{name}")
        for j in range(REACHED_PER_TEAM):
            registry = names[(t * REACHED_PER_TEAM + j) * step]
            admin.call(
                "POST", f"/registries/{registry}/members", json={"team": team, "role": "member"}
            )
            reached.append(registry)
    as_user = client(url, key)
    try:
        visible = [r["name"] for r in as_user.call("GET", "/registries")["registries"]]
    finally:
        as_user.close()
    made = {
        "registries": ROLE_REGISTRIES,
        "teams": ROLE_TEAMS,
        "reached": len(set(reached)),
        "visible_to_user": len(visible),
        "setup_s": round(time.perf_counter() - t0, 1),
    }
    log(f"roles: {made}")
    return key, reached[len(reached) // 2], made


#: With roles on, link, resolve and list stay within this factor of the admin's figures.
ROLES_TARGET = 1.2
PAIRED_METRICS = ("link", "alias", "resolve", "list_10k")


def roles_paired(
    admin: Any,
    member: Any,
    projects: tuple[str, str],
    n: int,
    warm: int,
    list_reps: int,
    page_size: int,
    log_many: Callable[[Any, str, str, int], list[str]],
) -> dict[str, Any]:
    """The admin (in ``model``) and the member (in their registry) alternating call by call
    on one server: link, alias move, resolve, and listing the 10,000 versions each run
    linked. Both see the same load, so their ratio is free of the drift between two runs
    minutes apart that swings the sequential figures on a shared machine. Returns each
    one's medians and the member's over the admin's."""
    clients = {"admin": admin, "member": member}
    coll, alias = "paired-link", "production"
    refs = {
        who: log_many(mb, project, "paired-linkme", n + warm)
        for (who, mb), project in zip(clients.items(), projects, strict=True)
    }
    links = {who: [mb.link(coll, r) for r in refs[who][:warm]] for who, mb in clients.items()}
    timed: dict[str, dict[str, list[float]]] = {who: {} for who in clients}

    def alternate(metric: str, count: int, call: Callable[[str, Any, int], object]) -> None:
        order = list(clients.items())
        for i in range(count):
            for who, mb in order if i % 2 == 0 else order[::-1]:
                t0 = time.perf_counter()
                call(who, mb, i)
                timed[who].setdefault(metric, []).append((time.perf_counter() - t0) * 1000)

    log(f"roles paired: link, alias, resolve x{n}, list x{2 * list_reps}, alternating")
    alternate("link", n, lambda who, mb, i: links[who].append(mb.link(coll, refs[who][warm + i])))
    alternate(
        "alias", n, lambda who, mb, i: mb.set_alias(coll, alias, links[who][i % len(links[who])])
    )
    alternate("resolve", n, lambda who, mb, i: mb.resolve(f"{mb.registry}-registry/{coll}:{alias}"))
    for rep in range(2 * list_reps):
        _alternate_pages(clients, rep, page_size, timed)
    out: dict[str, Any] = {
        who: {f"{m}_ms": round(statistics.median(v), 3) for m, v in timed[who].items()}
        for who in clients
    }
    out["ratio"] = {
        m: round(out["member"][f"{m}_ms"] / out["admin"][f"{m}_ms"], 3) for m in PAIRED_METRICS
    }
    out["calls"] = {m: len(timed["member"][m]) for m in PAIRED_METRICS}
    log(f"roles paired: member/admin {out['ratio']}")
    return out


def _alternate_pages(
    clients: dict[str, Any], rep: int, page_size: int, timed: dict[str, dict[str, list[float]]]
) -> None:
    """One listing of ``bench-list`` by each client, page by page in turn (a listing takes
    a third of a second: alternating whole listings leaves the load time to drift), adding
    each one's total to ``timed``."""
    pages = {who: _pages(mb, page_size) for who, mb in clients.items()}
    total = dict.fromkeys(clients, 0.0)
    order = list(clients) if rep % 2 == 0 else list(clients)[::-1]
    while pages:
        for who in order:
            if who in pages:
                t0 = time.perf_counter()
                more = next(pages[who], None)
                total[who] += (time.perf_counter() - t0) * 1000
                if more is None:
                    del pages[who]
    for who, ms in total.items():
        timed[who].setdefault("list_10k", []).append(ms)


def _pages(mb: Any, page_size: int) -> Iterator[int]:
    """Fetch ``bench-list`` a page per step; yields each page's size."""
    path = f"/registries/{mb.registry}/collections/bench-list/versions"
    token = None
    while True:
        params: dict[str, Any] = {"limit": page_size}
        if token:
            params["page_token"] = token
        body = mb.call("GET", path, params=params)
        yield len(body["versions"])
        token = body.get("next_page_token")
        if not token:
            return


def roles_overhead(
    out: dict[str, Any], best: Callable[..., Any], target: float, metrics: tuple[str, ...]
) -> None:
    """Roles against no roles, and the roles run against MLflow.

    The overhead is the paired one (the admin and the member alternating on one server,
    :func:`roles_paired`) when the roles run measured it; ``sequential`` holds the roles
    run's figures over the admin's run's, minutes apart, as the bench first compared them.
    """
    base, roles = out.get("modelbay", {}), out.get("modelbay_roles", {})
    paired = roles.get("paired", {}).get("ratio", {})
    overhead: dict[str, Any] = {
        "target": ROLES_TARGET,
        "measured": "paired" if paired else "sequential",
    }
    sequential: dict[str, float] = {}
    for metric in PAIRED_METRICS:
        a, b = base.get(f"{metric}_ms"), roles.get(f"{metric}_ms")
        if isinstance(a, (int, float)) and isinstance(b, (int, float)) and a > 0:
            sequential[metric] = round(b / a, 3)
        if metric in paired or metric in sequential:
            overhead[metric] = paired.get(metric, sequential.get(metric))
    overhead["sequential"] = sequential
    overhead["meets_target"] = {
        m: overhead[m] <= ROLES_TARGET for m in ("link", "resolve", "list_10k") if m in overhead
    }
    out["roles_overhead"] = overhead
    ratios: dict[str, Any] = {}
    for metric in metrics:
        ref, _ = best(out, "mlflow_", metric)
        ratios[metric] = ratio(ref, roles.get(f"{metric}_ms"))
    out["ratio_roles"] = ratios
    out["meets_target_roles"] = {m: (r is not None and r >= target) for m, r in ratios.items()}
