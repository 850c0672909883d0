"""``modelbay automation``: create, list, show, test, enable, disable and delete
automations, read their deliveries and replay one."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from modelbay.cli.common import JsonFlag, fail_on_error, fmt_time, group, print_json, print_table
from modelbay.contract import automations as ops
from modelbay.errors import InvalidInputError

automation_app = group("Webhooks, Slack messages and jobs when a model moves.")


def register(app: typer.Typer) -> None:
    app.add_typer(automation_app, name="automation")


def _call(op: Any, request: Any) -> Any:
    from modelbay.sdk.transport import connect

    return connect().call(op, request)


def _headers(values: list[str], option: str = "--header") -> dict[str, str]:
    found: dict[str, str] = {}
    for value in values:
        key, sep, text = value.partition("=")
        if not sep or not key:
            raise InvalidInputError(f"invalid {option} {value[:80]!r}: write NAME=VALUE")
        found[key.strip()] = text
    return found


def _template(path: Path | None) -> str | None:
    if path is None:
        return None
    size = path.stat().st_size
    if size > ops.MAX_TEMPLATE:
        raise InvalidInputError(
            f"template {path} is {size} bytes; at most {ops.MAX_TEMPLATE}",
            {"max": ops.MAX_TEMPLATE},
        )
    return path.read_text(encoding="utf-8")


def _show(info: dict[str, Any]) -> None:
    rows = [
        ("name", info["name"]),
        ("scope", info["scope"]),
        ("event", info["event"]),
        ("action", info["action"]),
        ("destination", info.get("url") or f"queue {info.get('queue')}"),
        ("enabled", "yes" if info["enabled"] else f"no ({info.get('disabled_reason')})"),
    ]
    for key in ("alias_regex", "tag_regex", "metric"):
        if info.get(key):
            rows.append((key.replace("_", " "), str(info[key])))
    if info.get("secret_names") or info.get("signed"):
        secrets = list(info.get("secret_names") or []) + (
            ["signing secret"] if info["signed"] else []
        )
        rows.append(("secrets", ", ".join(secrets)))
    print_table(("", ""), rows)


@automation_app.command("create")
def create(
    name: Annotated[str, typer.Argument(help="A unique name.")],
    scope: Annotated[
        str,
        typer.Option(
            "--scope",
            metavar="REF",
            help="registry:NAME, collection:REGISTRY/NAME or project:NAME "
            "(NAME-registry and NAME-registry/COLLECTION also work).",
        ),
    ],
    on: Annotated[str, typer.Option("--on", metavar="EVENT", help=", ".join(ops.EVENTS))],
    alias: Annotated[str | None, typer.Option("--alias", metavar="REGEX")] = None,
    tag: Annotated[str | None, typer.Option("--tag", metavar="REGEX")] = None,
    metric: Annotated[str | None, typer.Option("--metric", metavar="KEY")] = None,
    window: Annotated[int | None, typer.Option("--window", metavar="N")] = None,
    agg: Annotated[str | None, typer.Option("--agg", metavar="avg|min|max")] = None,
    threshold: Annotated[
        str | None,
        typer.Option("--threshold", metavar="OP VALUE", help="e.g. '>= 0.95' (run-metric)."),
    ] = None,
    webhook: Annotated[str | None, typer.Option("--webhook", metavar="URL")] = None,
    secret: Annotated[
        str | None, typer.Option("--secret", metavar="whsec_...", help="Signing secret.")
    ] = None,
    header: Annotated[
        list[str] | None, typer.Option("--header", metavar="K=V", help="Repeatable.")
    ] = None,
    secret_var: Annotated[
        list[str] | None,
        typer.Option(
            "--secret-var",
            metavar="NAME=VALUE",
            help="A write-only secret for ${NAME} in the template and headers (repeatable; "
            "ACCESS_TOKEN is also sent as a bearer token).",
        ),
    ] = None,
    slack: Annotated[str | None, typer.Option("--slack", metavar="URL")] = None,
    job: Annotated[str | None, typer.Option("--job", metavar="QUEUE")] = None,
    template: Annotated[
        Path | None, typer.Option("--template", metavar="FILE", help="A JSON payload template.")
    ] = None,
    as_json: JsonFlag = False,
) -> None:
    """Create an automation (a webhook, Slack or a job on an event).

    When EVENT happens in the scope, call a webhook, post to Slack or queue a job."""
    with fail_on_error(as_json):
        chosen = [k for k, v in (("webhook", webhook), ("slack", slack), ("job", job)) if v]
        if len(chosen) != 1:
            raise InvalidInputError("give one of --webhook URL, --slack URL or --job QUEUE")
        op_value: tuple[str | None, float | None] = (None, None)
        if threshold is not None:
            parts = threshold.replace(" ", "")
            for op in (">=", "<=", "==", "!=", ">", "<"):
                if parts.startswith(op):
                    try:
                        op_value = (op, float(parts[len(op) :]))
                    except ValueError:
                        break
                    break
            if op_value[0] is None:
                raise InvalidInputError(f"invalid --threshold {threshold!r}: e.g. '>= 0.95'")
        request = ops.AutomationCreate.parse(
            dict(
                name=name,
                scope=scope,
                event=on,
                alias_regex=alias,
                tag_regex=tag,
                metric=metric,
                metric_window=window,
                metric_agg=agg,
                metric_op=op_value[0],
                metric_value=op_value[1],
                action=chosen[0],
                url=webhook or slack,
                queue=job,
                headers=_headers(header or []) or None,
                template=_template(template),
                signing_secret=secret,
                secrets=_headers(secret_var or [], "--secret-var") or None,
            )
        )
        info = _call(ops.CREATE_AUTOMATION, request).model_dump()
    if as_json:
        print_json(info)
    else:
        typer.echo(f"created automation {info['name']!r}")
        _show(info)


@automation_app.command("list")
def list_(
    scope: Annotated[str | None, typer.Option("--scope", metavar="REF")] = None,
    as_json: JsonFlag = False,
) -> None:
    """The automations you may manage."""
    with fail_on_error(as_json):
        found = _call(ops.LIST_AUTOMATIONS, ops.AutomationsQuery(scope=scope)).automations
    infos = [a.model_dump() for a in found]
    if as_json:
        print_json(infos)
        return
    print_table(
        ("name", "scope", "event", "action", "enabled"),
        [
            (
                a["name"],
                a["scope"],
                a["event"],
                a["action"],
                "yes" if a["enabled"] else f"no: {a['disabled_reason']}",
            )
            for a in infos
        ],
    )


@automation_app.command("show")
def show(name: str, as_json: JsonFlag = False) -> None:
    """One automation (secrets by name only)."""
    with fail_on_error(as_json):
        info = _call(ops.GET_AUTOMATION, ops.AutomationPath(name=name)).model_dump()
    if as_json:
        print_json(info)
    else:
        _show(info)


def _print_delivery(info: dict[str, Any]) -> None:
    last = info["history"][-1] if info["history"] else {}
    outcome = last.get("status_code") or last.get("error") or "-"
    typer.echo(
        f"delivery {info['id']} ({info['message_id']}): {info['state']} after "
        f"{info['attempts']} attempt(s); last: {outcome}"
    )


@automation_app.command("test")
def test(name: str, as_json: JsonFlag = False) -> None:
    """Send a sample event now; show the answer."""
    with fail_on_error(as_json):
        info = _call(ops.TEST_AUTOMATION, ops.AutomationPath(name=name)).model_dump()
    if as_json:
        print_json(info)
    else:
        _print_delivery(info)
    if info["state"] not in ("succeeded", "pending"):
        raise typer.Exit(1)


def _set_enabled(name: str, enabled: bool, as_json: bool) -> None:
    with fail_on_error(as_json):
        request = ops.AutomationUpdate(name=name, enabled=enabled)
        info = _call(ops.UPDATE_AUTOMATION, request).model_dump()
    if as_json:
        print_json(info)
    else:
        typer.echo(f"automation {name!r} {'enabled' if enabled else 'disabled'}")


@automation_app.command("enable")
def enable(name: str, as_json: JsonFlag = False) -> None:
    """Enable an automation (again)."""
    _set_enabled(name, True, as_json)


@automation_app.command("disable")
def disable(name: str, as_json: JsonFlag = False) -> None:
    """Disable an automation."""
    _set_enabled(name, False, as_json)


@automation_app.command("delete")
def delete(name: str, as_json: JsonFlag = False) -> None:
    """Delete an automation and its delivery history."""
    with fail_on_error(as_json):
        from modelbay.contract.entities import Empty

        result = _call(ops.DELETE_AUTOMATION, ops.AutomationPath(name=name))
        assert isinstance(result, Empty)
    if as_json:
        print_json({"deleted": name})
    else:
        typer.echo(f"deleted automation {name!r}")


@automation_app.command("deliveries")
def deliveries(
    name: str,
    limit: Annotated[int, typer.Option("--limit", min=1, max=1000)] = 50,
    as_json: JsonFlag = False,
) -> None:
    """An automation's deliveries and attempts."""
    with fail_on_error(as_json):
        request = ops.DeliveriesQuery(name=name, limit=limit)
        found = _call(ops.DELIVERIES, request).deliveries
    infos = [d.model_dump() for d in found]
    if as_json:
        print_json(infos)
        return
    rows = []
    for d in infos:
        for n, a in enumerate(d["history"], 1):
            rows.append(
                (
                    str(d["id"]),
                    d["message_id"],
                    d["state"] if n == len(d["history"]) else "",
                    fmt_time(a["started_at"]),
                    str(a.get("status_code") or a.get("exit_code") or ""),
                    f"{a['latency_ms']:.0f} ms" if a.get("latency_ms") is not None else "",
                    (a.get("error") or a.get("response_head") or "")[:60],
                )
            )
        if not d["history"]:
            rows.append((str(d["id"]), d["message_id"], d["state"], "", "", "", ""))
    print_table(("id", "message", "state", "time", "status", "latency", "answer / error"), rows)


@automation_app.command("replay")
def replay(delivery: int, as_json: JsonFlag = False) -> None:
    """Send a delivery again (same webhook-id)."""
    with fail_on_error(as_json):
        info = _call(ops.REPLAY_DELIVERY, ops.DeliveryPath(delivery_id=delivery)).model_dump()
    if as_json:
        print_json(info)
    else:
        _print_delivery(info)
