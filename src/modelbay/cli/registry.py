"""Registry commands: registries, registered models (collections), versions, links, aliases."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

import typer

from modelbay import names
from modelbay.cli.common import (
    JsonFlag,
    api,
    fail_on_error,
    fmt_list,
    fmt_size,
    fmt_time,
    print_json,
    print_table,
)

if TYPE_CHECKING:
    from modelbay.sdk.api import Collection, Registry

RegistryOption = Annotated[
    str, typer.Option("--registry", "-r", help="Registry of the collection (model, dataset, ...).")
]


def register(app: typer.Typer) -> None:
    app.command("registries")(registries)
    app.command("versions")(versions)
    app.command("link")(link)

    models = typer.Typer(
        help="Registered models: the collections of a registry.", no_args_is_help=True
    )
    models.command("list")(models_list)
    models.command("show")(models_show)
    app.add_typer(models, name="models")

    alias = typer.Typer(
        help="Move aliases such as 'staging' and 'production'.", no_args_is_help=True
    )
    alias.command("add")(alias_add)
    alias.command("remove")(alias_remove)
    app.add_typer(alias, name="alias")


def registries(as_json: JsonFlag = False) -> None:
    """List the registries."""
    with fail_on_error():
        found = [_info(r) for r in api().registries()]
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
        str | None, typer.Option("--query", "-q", help="Only names matching this.")
    ] = None,
    as_json: JsonFlag = False,
) -> None:
    """List the collections of a registry."""
    with fail_on_error():
        found = [
            _info(c) for c in api().registry(_registry_name(registry)).collections(query=query)
        ]
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
    """Show a collection: its model card, tags, aliases and versions (newest first)."""
    with fail_on_error():
        collection = _collection(name, registry)
        info = _info(collection)
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
            help="A collection (model-registry/MNIST) or an artifact (project/name).",
            metavar="REF_OR_COLLECTION",
        ),
    ],
    as_json: JsonFlag = False,
) -> None:
    """List the versions of a collection or of an artifact, newest first."""
    with fail_on_error():
        ref = names.parse_ref(target)
        if isinstance(ref, names.RegistryRef):
            found = [v.info for v in api().collection(_collection_path(ref)).versions()]
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
                    fmt_size(v["size"]),
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
        str, typer.Argument(help="Collection to link into, e.g. model-registry/MNIST.")
    ],
    alias: Annotated[
        list[str] | None,
        typer.Option("--alias", "-a", help="Alias to put on the new version (repeatable)."),
    ] = None,
) -> None:
    """Link an artifact version into a registry collection and print the registry version.

    The collection is created on first use; linking the same version again returns its
    existing link.
    """
    with fail_on_error():
        linked = api().artifact(source).link(target, aliases=alias or None)
    typer.echo(linked.qualified_name)


def alias_add(
    ref: Annotated[
        str, typer.Argument(help="model-registry/MNIST:v3 or project/name:v1.", metavar="REF")
    ],
    alias: Annotated[str, typer.Argument(help="The alias, e.g. production.")],
) -> None:
    """Point ALIAS at the version REF names, moving it from the version that held it."""
    with fail_on_error():
        parsed = names.parse_ref(ref)
        if isinstance(parsed, names.RegistryRef):
            version = api().collection(_collection_path(parsed)).set_alias(alias, parsed.selector)
        else:
            names.check_alias(alias)  # save() below drops 'latest' silently; refuse it here
            version = api().artifact(str(parsed))
            if alias not in version.aliases:
                version.aliases.append(alias)
                version.save()
    typer.echo(f"{alias} -> {version.qualified_name}")


def alias_remove(
    target: Annotated[
        str,
        typer.Argument(
            help="model-registry/MNIST or project/name.", metavar="COLLECTION_OR_ARTIFACT"
        ),
    ],
    alias: Annotated[str, typer.Argument(help="The alias to remove.")],
) -> None:
    """Remove ALIAS from a collection or an artifact."""
    with fail_on_error():
        parsed = names.parse_ref(target)
        names.check_alias(alias)
        if isinstance(parsed, names.RegistryRef):
            collection = api().collection(_collection_path(parsed))
            held_by = collection.aliases.get(alias)
            collection.remove_alias(alias)
            where = f"{_collection_path(parsed)}:{held_by}"
        else:
            version = api().artifact(f"{parsed.project}/{parsed.name}:{alias}")
            version.aliases.remove(alias)
            version.save()
            where = version.qualified_name
    typer.echo(f"removed {alias} from {where}")


# -- helpers ----------------------------------------------------------------------------------


def _info(obj: Registry | Collection) -> dict[str, Any]:
    return dict(obj.info)


def _registry_name(name: str) -> str:
    """Accept ``model`` and also ``model-registry`` / ``wandb-registry-model``."""
    return name.removeprefix(names.WANDB_REGISTRY_PREFIX).removesuffix(names.REGISTRY_SUFFIX)


def _collection_path(ref: names.RegistryRef) -> str:
    return f"{ref.registry}{names.REGISTRY_SUFFIX}/{ref.collection}"


def _collection(name: str, registry: str) -> Collection:
    """A collection by bare name (in ``registry``) or by path (``model-registry/MNIST``)."""
    if "/" not in name:
        return api().registry(_registry_name(registry)).collection(name)
    ref = names.parse_ref(name)
    return api().collection(_collection_path(ref) if isinstance(ref, names.RegistryRef) else name)


def _print_registry_versions(found: list[dict[str, Any]]) -> None:
    print_table(
        ["version", "aliases", "source", "size", "created"],
        (
            [
                v["link"]["version"],
                fmt_list(v["aliases"]),
                v["ref"],
                fmt_size(v["size"]),
                fmt_time(v["link"]["linked_at"]),
            ]
            for v in found
        ),
        title="versions",
    )
