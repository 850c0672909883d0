"""The local download cache: how big it is, and pruning it."""

from __future__ import annotations

from typing import Annotated

import typer

from modelbay.cli.common import JsonFlag, fail_on_error, group, print_json
from modelbay.sdk.cache import Cache
from modelbay.sizes import format_size, parse_size


def register(app: typer.Typer) -> None:
    cache = group(
        "The local download cache. It lives in $MODELBAY_CACHE_DIR, bounded by "
        "$MODELBAY_CACHE_MAX_SIZE."
    )
    cache.command("info")(info)
    cache.command("prune")(prune)
    app.add_typer(cache, name="cache")


def info(as_json: JsonFlag = False) -> None:
    """Show where the cache is, its files, its size and its bound.

    Also the partial files of downloads in progress or killed (prune removes the killed
    ones').
    """
    with fail_on_error(as_json), Cache.from_env() as cache:
        found = cache.info()
        partial = cache.partial_files()
    found.update({f"partial_{key}": value for key, value in partial.items()})
    if as_json:
        print_json(found)
        return
    typer.echo(f"root:    {found['root']}")
    typer.echo(f"files:   {found['entries']}")
    typer.echo(f"size:    {format_size(found['bytes'])} ({found['bytes']} bytes)")
    typer.echo(f"bound:   {_bound(found['max_bytes'])}")
    typer.echo(
        f"partial: {partial['files']} files, {format_size(partial['bytes'])}"
        f" (left by killed downloads: {partial['dead_files']} files,"
        f" {format_size(partial['dead_bytes'])})"
    )


def prune(
    max_size: Annotated[
        str | None,
        typer.Option(
            "--max-size",
            metavar="SIZE",
            help="Evict least-recently-used files until the cache is at most this big "
            "(10GB, 500MiB, bytes; 0 empties it). Default: the configured bound.",
        ),
    ] = None,
    as_json: JsonFlag = False,
) -> None:
    """Evict least-recently-used files down to a size.

    Damaged or stray files are removed too. Files already downloaded elsewhere keep their bytes: only the cache's copy goes.
    """
    with fail_on_error(as_json):
        bound = parse_size(max_size, name="--max-size") if max_size is not None else None
        with Cache.from_env() as cache:
            result = cache.prune(bound)
            limit = cache.max_bytes if bound is None else bound
    if as_json:
        print_json({**result, "max_bytes": limit})
        return
    typer.echo(
        f"removed {result['removed']} files, freed {format_size(result['freed'])}; "
        f"the cache holds {format_size(result['bytes'])} (bound {_bound(limit)})"
    )


def _bound(max_bytes: int | None) -> str:
    return "none" if max_bytes is None else format_size(max_bytes)
