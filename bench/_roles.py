"""The roles mode of ``bench/registry.py``: a user reaching 50 of 1,000 restricted
registries through 5 teams, and how their figures compare with the admin's and MLflow's."""

from __future__ import annotations

import statistics
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from _common import frozen_heap, log, ratio

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


PAIRED_COLLECTION, PAIRED_ALIAS = "paired-link", "production"
#: Timed calls in a side's turn of the paired run, and the seconds of untimed calls that
#: open each turn.
BLOCK, WARM_TURN_S = 25, 0.2


class ModelbaySide:
    """A modelbay client in the paired run: links into ``paired-link`` of its registry the
    versions it logged in ``project``, moves ``production`` over them, resolves it, and
    lists ``bench-list`` (the 10,000 versions its run linked)."""

    def __init__(
        self, mb: Any, project: str, log_many: Callable[[Any, str, str, int], list[str]]
    ) -> None:
        self.mb, self.project, self.log_many = mb, project, log_many
        self.refs: list[str] = []
        self.links: list[str] = []
        self.warm = 0

    def prepare(self, n: int, warm: int) -> None:
        self.refs = self.log_many(self.mb, self.project, "paired-linkme", n + warm)
        self.links = [self.mb.link(PAIRED_COLLECTION, r) for r in self.refs[:warm]]
        self.warm = warm
        for i in range(warm):
            self.move_alias(i)
            self.resolve(i)

    def link(self, i: int) -> None:
        self.links.append(self.mb.link(PAIRED_COLLECTION, self.refs[self.warm + i]))

    def move_alias(self, i: int) -> None:
        self.mb.set_alias(PAIRED_COLLECTION, PAIRED_ALIAS, self.links[i % len(self.links)])

    def resolve(self, i: int) -> None:
        self.mb.resolve(f"{self.mb.registry}-registry/{PAIRED_COLLECTION}:{PAIRED_ALIAS}")

    def pages(self, page_size: int) -> Iterator[int]:
        return _pages(self.mb, page_size)


def roles_paired(
    sides: dict[str, Any], n: int, warm: int, list_reps: int, page_size: int
) -> dict[str, Any]:
    """The admin (in ``model``), the member (in their registry) and, when given, MLflow's
    servers, taking turns at link, alias move and resolve; then the admin and the member
    listing their 10,000 versions, page by page in turn. All see the same load, so their
    ratios are free of the drift between runs minutes apart that swings the sequential
    figures on a shared machine.

    Turns are blocks of :data:`BLOCK` timed calls, each opened by :data:`WARM_TURN_S` of
    untimed resolves and one untimed call of its kind, as a sequential run's calls follow
    its own: on this VM a server idle for the seconds of the other sides' turns answers its
    next tenth of a second of calls up to twice as slowly (a 10,000-version listing took
    160 ms back to back and 260 ms after 3 s idle, with the same page faults), and the side
    after MLflow's turn would also carry what its server still did after answering.
    Listings are not timed against MLflow's here: in turns with MLflow's 1-second listings,
    modelbay's went from ~130 ms to ~250 ms in some turns and not others, even so opened;
    their MLflow ratio stays the sequential one.

    ``sides`` maps a name (``admin``, ``member``, ``mlflow_...``) to a
    :class:`ModelbaySide` or ``_mlflow_side.MlflowSide``. Returns each one's medians, the
    member's over the admin's (``ratio``) and, with MLflow, how many times faster than the
    faster MLflow server each modelbay user was at link, alias and resolve
    (``versus_mlflow``).
    """
    blocks = max(1, -(-n // BLOCK))
    for side in sides.values():
        side.prepare(blocks * (BLOCK + 1), warm)
    timed: dict[str, dict[str, list[float]]] = {who: {} for who in sides}
    order = list(sides.items())

    def open_turn(side: Any, call: Callable[[], object]) -> None:
        end = time.perf_counter() + WARM_TURN_S
        side.resolve(0)
        while time.perf_counter() < end:
            side.resolve(0)
        call()

    def alternate(metric: str, call: Callable[[Any, int], object]) -> None:
        i = 0
        for b in range(blocks):
            k = b % len(order)  # each side leads in turn
            for who, side in order[k:] + order[:k]:
                open_turn(side, lambda: call(side, i))  # noqa: B023 - called at once
                for j in range(i + 1, i + BLOCK + 1):
                    t0 = time.perf_counter()
                    call(side, j)
                    timed[who].setdefault(metric, []).append((time.perf_counter() - t0) * 1000)
            i += BLOCK + 1

    log(f"paired ({', '.join(sides)}): link, alias, resolve x{blocks * BLOCK}, in turns")
    alternate("link", lambda side, i: side.link(i))
    alternate("alias", lambda side, i: side.move_alias(i))
    alternate("resolve", lambda side, i: side.resolve(i))
    out: dict[str, Any] = {}
    for who in sides:
        out[who] = {f"{m}_ms": round(statistics.median(v), 3) for m, v in timed[who].items()}
    users = {who: sides[who] for who in ("admin", "member")}
    log(f"paired: admin and member list x{2 * list_reps}, page by page in turn")
    listings: dict[str, list[float]] = {who: [] for who in users}
    with frozen_heap():
        for rep in range(2 * list_reps):
            for who, ms in _alternate_pages(users, rep, page_size).items():
                listings[who].append(ms)
    for who, runs in listings.items():
        out[who]["list_10k_ms"] = round(statistics.median(runs), 1)
        out[who]["list_10k_runs_ms"] = [round(r, 1) for r in runs]
    out["ratio"] = {
        m: round(out["member"][f"{m}_ms"] / out["admin"][f"{m}_ms"], 3) for m in PAIRED_METRICS
    }
    out["calls"] = {m: len(timed["member"][m]) for m in PAIRED_METRICS if m in timed["member"]}
    out["calls"]["list_10k"] = 2 * list_reps
    mlflow = [who for who in sides if who.startswith("mlflow")]
    if mlflow:
        out["versus_mlflow"] = _versus(out, mlflow)
    log(f"paired: member/admin {out['ratio']}; vs MLflow {out.get('versus_mlflow')}")
    return out


def _versus(out: dict[str, Any], mlflow: list[str]) -> dict[str, Any]:
    """Per metric, the faster MLflow server's median over each modelbay user's."""
    versus: dict[str, Any] = {}
    for metric in PAIRED_METRICS:
        if metric == "list_10k":
            continue  # not timed in turns with MLflow (see roles_paired)
        ref, ref_from = min((out[m][f"{metric}_ms"], m) for m in mlflow)
        versus[metric] = {
            "reference": ref_from,
            **{who: ratio(ref, out[who][f"{metric}_ms"]) for who in ("member", "admin")},
        }
    return versus


def _alternate_pages(users: dict[str, Any], rep: int, page_size: int) -> dict[str, float]:
    """One listing by each user, page by page in turn (a listing takes a tenth of a second
    or more: alternating whole listings leaves the load time to drift); each one's total
    milliseconds."""
    order = list(users) if rep % 2 == 0 else list(users)[::-1]
    pages = {who: users[who].pages(page_size) for who in order}
    total = dict.fromkeys(order, 0.0)
    while pages:
        for who in order:
            if who in pages:
                t0 = time.perf_counter()
                more = next(pages[who], None)
                total[who] += (time.perf_counter() - t0) * 1000
                if more is None:
                    del pages[who]
    return total


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
    So are the member's link, alias and resolve ratios to MLflow (``ratio_roles``) when
    MLflow's servers took part in the paired run (``ratio_roles_measured`` says which);
    ``ratio_roles_sequential`` keeps the roles run's sequential figures over MLflow's runs.
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
    versus = roles.get("paired", {}).get("versus_mlflow")
    if versus:
        # The paired figures count: both systems were timed in the same seconds.
        out["ratio_roles_sequential"] = ratios
        ratios = {**ratios, **{m: versus[m]["member"] for m in metrics if m in versus}}
        out["ratio_paired_admin"] = {m: versus[m]["admin"] for m in metrics if m in versus}
    out["ratio_roles"] = ratios
    out["ratio_roles_measured"] = {
        m: "paired" if versus and m in versus else "sequential" for m in ratios
    }
    out["meets_target_roles"] = {m: (r is not None and r >= target) for m, r in ratios.items()}
