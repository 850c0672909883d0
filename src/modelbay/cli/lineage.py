"""Lineage: which runs logged and used which versions."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from modelbay.cli.common import JsonFlag, api, fail_on_error, fmt_list, print_json, print_table


def register(app: typer.Typer) -> None:
    app.command("lineage")(lineage)


def lineage(
    ref: Annotated[
        str,
        typer.Argument(
            help="A version (project/name:v1, model-registry/MNIST:v3), or with --run "
            "a run (project/run_id).",
            metavar="REF",
        ),
    ],
    run: Annotated[bool, typer.Option("--run", help="REF is a run, not a version.")] = False,
    depth: Annotated[
        int, typer.Option("--depth", "-d", metavar="N", min=0, max=10, help="Steps to walk.")
    ] = 2,
    as_json: JsonFlag = False,
) -> None:
    """Show the runs and versions around a version or a run.

    The lineage graph: its nodes and the edges between them (logged, used).
    """
    with fail_on_error(as_json):
        graph = api().lineage(ref=None if run else ref, run=ref if run else None, depth=depth)
    if as_json:
        print_json(graph)
        return
    print_table(
        ["node", "kind", "details"],
        ([_marked(n["node"], graph["root"]), n["kind"], _details(n)] for n in graph["nodes"]),
        title="nodes",
    )
    print_table(
        ["from", "edge", "to"],
        ([e["from"], e["kind"], e["to"]] for e in graph["edges"]),
        title="edges",
    )


def _marked(node: str, root: str | None) -> str:
    return f"{node} *" if node == root else node


def _details(node: dict[str, Any]) -> str:
    if node["kind"] == "run":
        parts = [f"state {node.get('state')}"]
        if node.get("name"):
            parts.insert(0, str(node["name"]))
    else:
        parts = [f"type {node.get('type')}"]
        if node.get("aliases"):
            parts.append(f"aliases {fmt_list(node['aliases'])}")
        if node.get("links"):
            parts.append(f"linked as {fmt_list(node['links'])}")
    return "; ".join(parts)
