"""Registry commands: registries, registered models (collections), versions, links, aliases."""

from __future__ import annotations

from dataclasses import replace
from typing import Annotated, Any

import typer

from modelbay import names
from modelbay.cli.common import (
    JsonFlag,
    api,
    collection_path,
    fail_on_error,
    fmt_list,
    fmt_time,
    group,
    has_selector,
    parse,
    print_json,
    print_table,
    registry_name,
    whole,
)
from modelbay.sizes import format_size

RegistryOption = Annotated[
    str,
    typer.Option(
        "--registry", "-r", metavar="NAME", help="Registry of the collection (model, dataset, ...)."
    ),
]


def register(app: typer.Typer) -> None:
    app.command("registries")(registries)
    app.command("versions")(versions)
    app.command("link")(link)

    models = group("Registered models: the collections of a registry.")
    models.command("list")(models_list)
    models.command("show")(models_show)
    app.add_typer(models, name="models")

    alias = group("Move aliases such as 'staging' and 'production'.")
    alias.command("add")(alias_add)
    alias.command("remove")(alias_remove)
    app.add_typer(alias, name="alias")


def registries(as_json: JsonFlag = False) -> None:
    """List the registries."""
    with fail_on_error(as_json):
        found = [r.info for r in api().registries()]
    if as_json:
        print_json(found)
        return
    print_table(
        ["registry", "description", "accepts", "collections"],
        (
            [
                r["name"],
                r.get("description"),
                fmt_list(r.get("artifact_types") or ["*"]),
                r.get("collection_count"),
            ]
            for r in found
        ),
    )


def models_list(
    registry: RegistryOption = "model",
    query: Annotated[
        str | None, typer.Option("--query", "-q", metavar="TEXT", help="Only names matching this.")
    ] = None,
    as_json: JsonFlag = False,
) -> None:
    """List the collections of a registry."""
    with fail_on_error(as_json):
        found = [c.info for c in api().registry(registry_name(registry)).collections(query=query)]
    if as_json:
        print_json(found)
        return
    print_table(
        ["collection", "type", "versions", "tags", "updated"],
        (
            [
                c["ref"],
                c["type"],
                c.get("version_count"),
                fmt_list(c["tags"]),
                fmt_time(c.get("updated_at")),
            ]
            for c in found
        ),
    )


def models_show(
    name: Annotated[
        str, typer.Argument(help="Collection name, or a path like model-registry/MNIST.")
    ],
    registry: RegistryOption = "model",
    as_json: JsonFlag = False,
) -> None:
    """Show a collection: model card, tags, aliases, versions."""
    with fail_on_error(as_json):
        collection = api().collection(collection_path(name, registry))
        info = collection.info
        info["aliases"] = collection.aliases
        found = [v.info for v in collection.versions()]
    if as_json:
        print_json({**info, "versions": found})
        return
    out = [f"{info['ref']}  (type {info['type']}, {len(found)} versions)"]
    if info["tags"]:
        out.append(f"tags: {fmt_list(info['tags'])}")
    typer.echo("\n".join(out))
    if info.get("description"):
        typer.echo("\n" + info["description"].rstrip() + "\n")
    aliases = sorted(
        info["aliases"].items(), key=lambda kv: (names.version_index(kv[1]) or 0, kv[0])
    )
    print_table(["alias", "version"], reversed(aliases), title="aliases")
    _print_registry_versions(found)


def versions(
    target: Annotated[
        str,
        typer.Argument(
            help="A collection (model-registry/MNIST) or an artifact (project/name); with "
            ":ALIAS or :vN, only that version.",
            metavar="REF",
        ),
    ],
    as_json: JsonFlag = False,
) -> None:
    """List the versions of a collection or artifact, newest first."""
    from modelbay.errors import NotFoundError

    with fail_on_error(as_json):
        ref = parse(target)
        if has_selector(target):
            found = [api().artifact(target).info]
        elif isinstance(ref, names.RegistryRef):
            try:
                found = [v.info for v in api().collection(collection_path(target)).versions()]
            except NotFoundError as missing:
                # No registry X: X-registry/name may be a project's artifact (W&B lets a
                # project end in -registry), as the server resolves references.
                holder = target.split("/")[0]
                if not holder.endswith(names.REGISTRY_SUFFIX) or "/" not in target:
                    raise
                ref = names.ArtifactRef(names.check_project(holder), ref.collection, ref.selector)
                try:
                    found = [v.info for v in api().artifacts(ref.project, ref.name)]
                except NotFoundError:
                    raise missing from None
        else:
            found = [v.info for v in api().artifacts(ref.project, ref.name)]
    if as_json:
        print_json(found)
    elif isinstance(ref, names.RegistryRef):
        _print_registry_versions(found)
    else:
        print_table(
            ["version", "aliases", "digest", "size", "files", "created", "run"],
            (
                [
                    v["version"],
                    fmt_list(v["aliases"]),
                    v["digest"][:12],
                    format_size(v["size"]),
                    v["file_count"],
                    fmt_time(v["created_at"]),
                    f"{v['run']['project']}/{v['run']['id']}" if v.get("run") else "",
                ]
                for v in found
            ),
        )


def link(
    source: Annotated[
        str, typer.Argument(help="Artifact version, e.g. project/model:v3.", metavar="SOURCE_REF")
    ],
    target: Annotated[
        str,
        typer.Argument(
            help="Collection to link into: model-registry/MNIST, or a bare name (in --registry)."
        ),
    ],
    alias: Annotated[
        list[str] | None,
        typer.Option(
            "--alias", "-a", metavar="ALIAS", help="Alias to put on the new version (repeatable)."
        ),
    ] = None,
    registry: RegistryOption = "model",
    as_json: JsonFlag = False,
) -> None:
    """Link an artifact version into a registry collection.

    Prints the registry version. The collection is created on first use; linking the same version again returns its
    existing link. The newest link holds 'latest'.
    """
    with fail_on_error(as_json):
        path = collection_path(target, registry)
        linked = api().artifact(source).link(path, aliases=alias or None)
    if as_json:
        print_json(linked.info)
    else:
        typer.echo(linked.qualified_name)


def alias_add(
    ref: Annotated[
        str, typer.Argument(help="model-registry/MNIST:v3 or project/name:v1.", metavar="REF")
    ],
    alias: Annotated[str, typer.Argument(help="The alias, e.g. production.")],
    as_json: JsonFlag = False,
) -> None:
    """Point ALIAS at the version REF names.

    The alias moves from the version that held it.
    'latest' follows the newest version and 'vN' names version N: neither is set by hand.
    """
    with fail_on_error(as_json):
        names.check_alias(alias)
        version = api().artifact(str(parse(ref)))
        if alias not in version.aliases:
            version.aliases.append(alias)
            version.save()
    if as_json:
        print_json(version.info)
    else:
        typer.echo(f"{alias} -> {version.qualified_name}")


def alias_remove(
    target: Annotated[
        str,
        typer.Argument(
            help="model-registry/MNIST or project/name.", metavar="COLLECTION_OR_ARTIFACT"
        ),
    ],
    alias: Annotated[str, typer.Argument(help="The alias to remove.")],
    as_json: JsonFlag = False,
) -> None:
    """Remove ALIAS from a collection or an artifact."""
    with fail_on_error(as_json):
        holder = whole(target)
        names.check_alias(alias)
        held_by = api().artifact(str(replace(holder, selector=alias)))
        held_by.aliases.remove(alias)
        held_by.save()
    if as_json:
        print_json({"removed": alias, "from": held_by.qualified_name})
    else:
        typer.echo(f"removed {alias} from {held_by.qualified_name}")


# -- helpers ----------------------------------------------------------------------------------


def _print_registry_versions(found: list[dict[str, Any]]) -> None:
    print_table(
        ["version", "aliases", "source", "size", "created"],
        (
            [
                v["link"]["version"],
                fmt_list(v["aliases"]),
                v["ref"],
                format_size(v["size"]),
                fmt_time(v["link"]["linked_at"]),
            ]
            for v in found
        ),
        title="versions",
    )
