"""The lineage graph around a version or run, laid out in columns for an SVG drawing.

Columns follow the edges (producer to consumer): upstream datasets and runs to the left of the
node the page is about, the runs that used it to the right.
"""

from __future__ import annotations

from collections import deque
from typing import Any
from urllib.parse import quote

from modelbay.server.ui.web import run_url

NODE_W = 210
NODE_H = 56
COL_GAP = 70
ROW_GAP = 18
PAD = 12


def node_url(node: dict[str, Any]) -> str:
    if node["kind"] == "run":
        return run_url(node["project"], node["id"])
    return f"/projects/{quote(node['project'])}/artifacts/{quote(node['name'])}/{node['version']}"


def _label(node: dict[str, Any]) -> tuple[str, str]:
    if node["kind"] == "run":
        return node["name"] or node["id"], f"run · {node.get('job_type') or node['state']}"
    aliases = [a for a in node.get("aliases", []) if a != "latest"]
    sub = node["type"] + (f" · {', '.join(aliases)}" if aliases else "")
    return f"{node['name']}:{node['version']}", sub


def layout(graph: dict[str, Any]) -> dict[str, Any]:
    """Positions for ``LineageService.graph`` output: ``{"width", "height", "nodes", "edges"}``.

    Each node gets ``x, y, label, sub, url, kind, root``; each edge an SVG path ``d``.
    """
    nodes = {n["node"]: n for n in graph["nodes"]}
    root = graph.get("root")
    if not isinstance(root, str) or root not in nodes:
        return {"width": 0, "height": 0, "nodes": [], "edges": []}
    out_edges: dict[str, list[str]] = {}
    in_edges: dict[str, list[str]] = {}
    for e in graph["edges"]:
        out_edges.setdefault(e["from"], []).append(e["to"])
        in_edges.setdefault(e["to"], []).append(e["from"])
    layer = {root: 0}
    order = [root]
    queue = deque([root])
    while queue:
        current = queue.popleft()
        for nxt, step in [(n, 1) for n in sorted(out_edges.get(current, []))] + [
            (n, -1) for n in sorted(in_edges.get(current, []))
        ]:
            if nxt not in layer and nxt in nodes:
                layer[nxt] = layer[current] + step
                order.append(nxt)
                queue.append(nxt)
    low = min(layer.values())
    columns: dict[int, list[str]] = {}
    for node_id in order:
        columns.setdefault(layer[node_id] - low, []).append(node_id)
    tallest = max(len(c) for c in columns.values())
    height = PAD * 2 + tallest * NODE_H + (tallest - 1) * ROW_GAP
    placed: dict[str, dict[str, Any]] = {}
    for col, ids in columns.items():
        column_h = len(ids) * NODE_H + (len(ids) - 1) * ROW_GAP
        top = PAD + (height - 2 * PAD - column_h) / 2
        for row, node_id in enumerate(ids):
            node = nodes[node_id]
            label, sub = _label(node)
            placed[node_id] = {
                "id": node_id,
                "x": PAD + col * (NODE_W + COL_GAP),
                "y": top + row * (NODE_H + ROW_GAP),
                "label": label if len(label) <= 28 else label[:27] + "…",
                "title": label,
                "sub": sub if len(sub) <= 34 else sub[:33] + "…",
                "url": node_url(node),
                "kind": node["kind"],
                "root": node_id == root,
            }
    edges = []
    for e in graph["edges"]:
        a, b = placed.get(e["from"]), placed.get(e["to"])
        if a is None or b is None:
            continue
        x1, y1 = a["x"] + NODE_W, a["y"] + NODE_H / 2
        x2, y2 = b["x"], b["y"] + NODE_H / 2
        bend = max(30.0, abs(x2 - x1) / 2)
        edges.append(
            {
                "d": f"M{x1:.0f},{y1:.0f} C{x1 + bend:.0f},{y1:.0f} {x2 - bend:.0f},{y2:.0f} "
                f"{x2:.0f},{y2:.0f}",
                "kind": e["kind"],
            }
        )
    width = PAD * 2 + len(columns) * NODE_W + (len(columns) - 1) * COL_GAP
    return {
        "width": width,
        "height": height,
        "nodes": list(placed.values()),
        "edges": edges,
        "node_w": NODE_W,
        "node_h": NODE_H,
    }
