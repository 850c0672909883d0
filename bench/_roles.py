"""The roles mode of ``bench/registry.py``: a user reaching 50 of 1,000 restricted
registries through 5 teams, and how their figures compare with the admin's and MLflow's."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
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


def roles_overhead(
    out: dict[str, Any], best: Callable[..., Any], target: float, metrics: tuple[str, ...]
) -> None:
    """Roles against no roles (the admin's run), and the roles run against MLflow."""
    base, roles = out.get("modelbay", {}), out.get("modelbay_roles", {})
    overhead: dict[str, Any] = {"target": ROLES_TARGET}
    for metric in ("link", "alias", "resolve", "list_10k"):
        a, b = base.get(f"{metric}_ms"), roles.get(f"{metric}_ms")
        if isinstance(a, (int, float)) and isinstance(b, (int, float)) and a > 0:
            overhead[metric] = round(b / a, 3)
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
