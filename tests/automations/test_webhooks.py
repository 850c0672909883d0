"""Webhook and Slack deliveries from an embedded data directory to a real receiver."""

from __future__ import annotations

import ipaddress
import json
import socket
import time

import pytest
from standardwebhooks.webhooks import Webhook
from support.automations import Env
from support.receiver import Receiver

from modelbay.errors import AlreadyExistsError, InvalidInputError, NotFoundError
from modelbay.store import automations as store

SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"


def deliveries(env: Env, name: str) -> list[dict]:
    return env.services.automations.deliveries(env.me, name)


def test_a_link_is_delivered_signed_the_standard_webhooks_way(env: Env, receiver: Receiver) -> None:
    env.services.automations.create(
        env.me, "ci", "registry:model", "version-linked", "webhook",
        url=receiver.url + "/hook", signing_secret=SECRET, headers={"X-Team": "ml"},
    )  # fmt: skip
    env.link()
    assert env.dispatch() == 1
    (got,) = receiver.wait_for(1)
    body = Webhook(SECRET).verify(got.body, got.headers)
    assert got.path == "/hook" and got.headers["X-Team"] == "ml"
    assert got.headers["webhook-id"].startswith("msg_")
    assert set(body) == {"type", "timestamp", "data"} and body["type"] == "version.linked"
    link = body["data"]["version"]["link"]
    assert link["ref"] == "model-registry/MNIST:v0" and body["data"]["author"] == "tester"
    # A body changed on the way no longer verifies.
    with pytest.raises(Exception, match="signature"):
        Webhook(SECRET).verify(got.body.replace(b"MNIST", b"MNIST2"), got.headers)
    (delivery,) = deliveries(env, "ci")
    assert delivery["state"] == "succeeded" and delivery["message_id"] == got.headers["webhook-id"]
    (attempt,) = delivery["history"]
    assert attempt["status_code"] == 200 and attempt["response_head"] == "ok"
    assert attempt["request"]["headers"]["webhook-id"] == delivery["message_id"]


def test_filters_choose_the_events(env: Env, receiver: Receiver) -> None:
    env.link()
    env.link(collection="Other")
    env.services.automations.create(
        env.me, "prod", "collection:model/MNIST", "alias-added", "webhook",
        url=receiver.url, alias_regex="prod.*",
    )  # fmt: skip
    env.link(aliases=["staging"])  # latest and staging: not matched
    env.link(aliases=["production"])
    env.link(collection="Other", aliases=["production"])  # another collection: out of scope
    assert env.dispatch() == 1
    (got,) = receiver.wait_for(1)
    data = got.json()["data"]
    assert data["alias"] == "production" and data["collection"] == "MNIST"
    assert data["event"]["after"] == {"alias": "production", "version": "v2"}


def test_a_template_renders_every_wandb_variable(env: Env, receiver: Receiver) -> None:
    template = json.dumps(
        {
            "event_type": "${event_type}",
            "client_payload": {
                "event_author": "${event_author}",
                "alias": "${alias}",
                "tag": "${tag}",
                "artifact_collection_name": "${artifact_collection_name}",
                "artifact_version": "${artifact_version}",
                "artifact_version_string": "${artifact_version_string}",
                "accuracy": "${artifact_metadata.accuracy}",
                "note": "${artifact_metadata.note}",
                "project_name": "${project_name}",
                "entity_name": "${entity_name}",
                "token": "Bearer ${GITHUB_TOKEN}",
                "sentence": "${artifact_version_string} got ${alias}",
            },
        }
    )
    env.services.automations.create(
        env.me, "gh", "registry:model", "alias-added", "webhook", url=receiver.url,
        alias_regex="production", template=template, secrets={"GITHUB_TOKEN": "ghp_s3cr3t"},
        headers={"Authorization": "token ${GITHUB_TOKEN}"},
    )  # fmt: skip
    env.link(aliases=["production"])
    env.dispatch()
    (got,) = receiver.wait_for(1)
    body = got.json()
    p = body["client_payload"]
    assert body["event_type"] == "ADD_ARTIFACT_ALIAS"
    assert p["event_author"] == "tester" and p["alias"] == "production" and p["tag"] == ""
    assert p["artifact_collection_name"] == "MNIST"
    assert p["artifact_version_string"] == "model-registry/MNIST:v0"
    assert p["artifact_version"]["link"]["ref"] == "model-registry/MNIST:v0"
    assert p["accuracy"] == "0.93" and p["note"] == 'a "q"'  # the quote stayed inside
    assert p["project_name"] == "proj" and p["entity_name"] == "modelbay"
    assert p["token"] == "Bearer ghp_s3cr3t" and got.headers["Authorization"] == "token ghp_s3cr3t"
    assert p["sentence"] == "model-registry/MNIST:v0 got production"
    # The secret is sent, never stored in the history nor returned.
    (delivery,) = deliveries(env, "gh")
    assert "ghp_s3cr3t" not in json.dumps(delivery)
    assert delivery["history"][0]["request"]["headers"]["Authorization"] == "[redacted]"
    info = env.services.automations.get(env.me, "gh")
    assert info["secret_names"] == ["GITHUB_TOKEN"] and "ghp_s3cr3t" not in json.dumps(info)


def _check_block_kit(message: dict) -> None:
    """Block Kit's structure for an incoming webhook: a text fallback and known blocks."""
    assert isinstance(message["text"], str) and message["text"]
    assert 1 <= len(message["blocks"]) <= 50
    for block in message["blocks"]:
        kind = block["type"]
        assert kind in ("header", "section", "actions", "context", "divider")
        if kind == "header":
            assert block["text"]["type"] == "plain_text" and len(block["text"]["text"]) <= 150
        if kind == "section":
            assert "text" in block or "fields" in block
            for f in block.get("fields", []):
                assert f["type"] in ("mrkdwn", "plain_text") and len(f["text"]) <= 2000
            assert len(block.get("fields", [])) <= 10
        if kind == "actions":
            for el in block["elements"]:
                assert el["type"] == "button" and el["text"]["type"] == "plain_text"
                assert el["url"].startswith(("http://", "https://")) and len(el["url"]) <= 3000
        if kind == "context":
            assert all(e["type"] in ("mrkdwn", "plain_text", "image") for e in block["elements"])


def test_slack_gets_a_block_kit_message(env: Env, receiver: Receiver) -> None:
    env.services.automations.create(
        env.me, "slack", "registry:model", "version-linked", "slack",
        url=receiver.url + "/services/T0/B0/XYZ",
    )  # fmt: skip
    env.link(aliases=["candidate"])
    env.dispatch(env.settings.with_(public_url="http://models.example"))
    (got,) = receiver.wait_for(1)
    message = got.json()
    _check_block_kit(message)
    text = json.dumps(message)
    assert "model/MNIST" in message["text"] and "tester" in message["text"]
    for shown in ("*Model*\\nmodel/MNIST", "*Version*\\nv0", "candidate", "*accuracy*\\n0.93"):
        assert shown in text
    (button,) = [b for b in message["blocks"] if b["type"] == "actions"][0]["elements"]
    assert button["url"] == "http://models.example/registries/model/MNIST/v0"
    # The Slack URL is a credential: shown by its host only, and redacted in the history.
    info = env.services.automations.get(env.me, "slack")
    assert "XYZ" not in info["url"]
    assert "XYZ" not in json.dumps(deliveries(env, "slack"))


def test_a_receiver_down_then_back_gets_the_delivery_once_after_retries(
    env: Env, receiver: Receiver
) -> None:
    receiver.script = [(503, {}, b"busy"), (500, {}, b"boom"), (200, {}, b"ok")]
    env.services.automations.create(
        env.me, "flaky", "registry:model", "version-linked", "webhook", url=receiver.url
    )
    receiver.stop()
    env.link()
    env.dispatch()  # refused: the receiver is down
    receiver.start()
    for _ in range(100):
        env.dispatch()
        if deliveries(env, "flaky")[0]["state"] != "pending":
            break
        time.sleep(0.05)
    (delivery,) = deliveries(env, "flaky")
    assert delivery["state"] == "succeeded" and delivery["attempts"] == 4
    statuses = [a["status_code"] for a in delivery["history"]]
    assert statuses == [None, 503, 500, 200] and delivery["history"][0]["error"]
    got = receiver.wait_for(3)
    assert len(got) == 3 and {r.headers["webhook-id"] for r in got} == {delivery["message_id"]}


def test_spent_retries_kill_the_delivery_and_disable_the_automation(
    env: Env, receiver: Receiver
) -> None:
    receiver.script = [(500, {}, b"no")]
    env.services.automations.create(
        env.me, "dead", "registry:model", "version-linked", "webhook", url=receiver.url
    )
    env.link()
    for _ in range(100):
        env.dispatch()
        if deliveries(env, "dead")[0]["state"] != "pending":
            break
        time.sleep(0.05)
    (delivery,) = deliveries(env, "dead")
    assert delivery["state"] == "dead" and delivery["attempts"] == len(
        env.settings.delivery_retry_schedule
    )
    info = env.services.automations.get(env.me, "dead")
    assert not info["enabled"] and "failed 4 times" in info["disabled_reason"]
    # Disabled: a new event writes no delivery. Replayed: the same message goes out again.
    env.link()
    assert len(deliveries(env, "dead")) == 1
    receiver.script = [(200, {}, b"ok")]
    env.services.automations.update(env.me, "dead", enabled=True)
    replayed = env.services.automations.replay(env.me, delivery["id"])
    assert replayed["state"] == "pending"
    env.dispatch()
    again = deliveries(env, "dead")[0]
    assert again["state"] == "succeeded" and len(again["history"]) == 5
    assert receiver.requests[-1].headers["webhook-id"] == delivery["message_id"]


def test_410_disables_the_automation_at_once(env: Env, receiver: Receiver) -> None:
    receiver.script = [(410, {}, b"gone")]
    env.services.automations.create(
        env.me, "gone", "registry:model", "version-linked", "webhook", url=receiver.url
    )
    env.link()
    env.dispatch()
    (delivery,) = deliveries(env, "gone")
    assert delivery["state"] == "failed" and delivery["attempts"] == 1
    info = env.services.automations.get(env.me, "gone")
    assert not info["enabled"] and "410" in info["disabled_reason"]


def test_429_waits_as_long_as_retry_after_says(env: Env, receiver: Receiver) -> None:
    receiver.script = [(429, {"Retry-After": "30"}, b"slow down"), (200, {}, b"ok")]
    env.services.automations.create(
        env.me, "limited", "registry:model", "version-linked", "webhook", url=receiver.url
    )
    env.link()
    before = time.time()
    env.dispatch()
    (delivery,) = deliveries(env, "limited")
    assert delivery["state"] == "pending" and delivery["next_attempt_at"] >= before + 30
    assert env.dispatch() == 0  # not due yet, though the schedule said 0.05 s


def test_a_redirect_is_a_failure_not_followed(env: Env, receiver: Receiver) -> None:
    receiver.script = [(302, {"Location": receiver.url + "/elsewhere"}, b"")]
    env.services.automations.create(
        env.me, "moved", "registry:model", "version-linked", "webhook", url=receiver.url + "/a"
    )
    env.link()
    env.dispatch()
    attempt = deliveries(env, "moved")[0]["history"][0]
    assert attempt["status_code"] == 302 and "redirect" in attempt["error"]
    assert [r.path for r in receiver.requests] == ["/a"]


def test_private_destinations_are_refused_without_the_option(env: Env, receiver: Receiver) -> None:
    strict = env.settings.with_(allow_private_destinations=False)
    from modelbay.services.automations import AutomationService

    service = AutomationService(env.services.db, strict)
    with pytest.raises(InvalidInputError, match="private"):
        service.create(
            env.me, "p1", "registry:model", "version-linked", "webhook", url=receiver.url
        )
    with pytest.raises(InvalidInputError, match="private"):
        service.create(
            env.me, "p2", "registry:model", "version-linked", "slack", url="http://localhost:9/x"
        )
    # A host name passes the form check, and is refused when it resolves to a private
    # address (this machine's own name does).
    host = socket.gethostname()
    address = socket.getaddrinfo(host, 80)[0][4][0]
    if ipaddress.ip_address(address).is_global:
        pytest.skip(f"{host} resolves to a public address here")
    env.services.automations.create(
        env.me, "p3", "registry:model", "version-linked", "webhook",
        url=f"http://{host}:{receiver.port}/x",
    )  # fmt: skip
    env.link()
    env.dispatch(strict)
    (delivery,) = deliveries(env, "p3")
    assert (
        delivery["state"] == "failed" and "loopback or private" in delivery["history"][0]["error"]
    )
    assert receiver.requests == []
    assert not env.services.automations.get(env.me, "p3")["enabled"]


@pytest.mark.parametrize(
    ("args", "match"),
    [
        ({"alias_regex": "(unclosed"}, "alias regex"),
        ({"url": "ftp://example.com/x"}, "http"),
        ({"url": "not a url"}, "URL"),
        ({"template": "[" * 10 + "x"}, "not JSON"),
        ({"template": '{"a": "' + "x" * (70 * 1024) + '"}'}, "at most"),
        ({"signing_secret": "plain"}, "whsec_"),
        ({"secrets": {"lower": "x"}}, "secret name"),
        ({"headers": {"webhook-id": "x"}}, "set by modelbay"),
        ({"tag_regex": "x"}, "tag regex"),
    ],
)
def test_bad_input_gets_a_typed_error_and_changes_nothing(env: Env, args: dict, match: str) -> None:
    base = {"url": "https://hooks.example.com/x"}
    with pytest.raises(InvalidInputError, match=match):
        env.services.automations.create(
            env.me, "bad", "registry:model", "alias-added", "webhook", **{**base, **args}
        )
    assert env.services.automations.list_automations(env.me) == []


def test_scopes_events_and_names_are_checked(env: Env) -> None:
    create = env.services.automations.create
    url = {"url": "https://hooks.example.com/x"}
    with pytest.raises(InvalidInputError, match="projects"):
        create(env.me, "a", "registry:model", "run-failed", "webhook", **url)
    with pytest.raises(InvalidInputError, match="registries"):
        create(env.me, "a", "project:proj", "version-linked", "webhook", **url)
    with pytest.raises(NotFoundError):
        create(env.me, "a", "registry:nope", "version-linked", "webhook", **url)
    with pytest.raises(InvalidInputError, match="scope"):
        create(env.me, "a", "galaxy:far", "version-linked", "webhook", **url)
    create(env.me, "a", "model-registry", "version-linked", "webhook", **url)
    with pytest.raises(AlreadyExistsError):
        create(env.me, "a", "registry:model", "version-linked", "webhook", **url)
    assert [a["scope"] for a in env.services.automations.list_automations(env.me)] == [
        "registry:model"
    ]


def test_the_test_action_sends_a_sample_once(env: Env, receiver: Receiver) -> None:
    env.services.automations.create(
        env.me, "t", "registry:model", "alias-added", "webhook", url=receiver.url,
        signing_secret=SECRET,
    )  # fmt: skip
    delivery = env.services.automations.test(env.me, "t")
    (got,) = receiver.wait_for(1)
    body = Webhook(SECRET).verify(got.body, got.headers)
    assert body["data"]["test"] is True and body["type"] == "alias.added"
    assert delivery["state"] == "succeeded" and delivery["history"][0]["status_code"] == 200
    receiver.script = [(500, {}, b"no")]
    failed = env.services.automations.test(env.me, "t")
    assert failed["state"] == "failed" and env.dispatch() == 0  # not retried
    assert env.services.automations.get(env.me, "t")["enabled"]  # nor held against it


def test_a_job_delivery_waits_for_an_agent_of_its_queue(env: Env, receiver: Receiver) -> None:
    env.services.automations.create(
        env.me, "job", "registry:model", "version-linked", "job", queue="deploy"
    )
    env.link()
    assert env.dispatch() == 0  # the HTTP dispatcher never claims a job
    with env.services.db.write() as conn:
        t = time.time()
        claimed = store.claim(conn, now=t, lease_until=t + 60, worker="agent-1", limit=10,
                              queue="deploy")  # fmt: skip
    assert [(d["action_kind"], d["queue"]) for d in claimed] == [("job", "deploy")]


def test_a_run_metric_threshold_fires_when_it_becomes_true(env: Env, receiver: Receiver) -> None:
    import modelbay

    run = modelbay.init(project="proj", id="r1")
    env.services.automations.create(
        env.me, "good", "project:proj", "run-metric", "webhook", url=receiver.url,
        metric="acc", metric_window=2, metric_agg="avg", metric_op=">=", metric_value=0.9,
    )  # fmt: skip
    env.services.automations.create(
        env.me, "done", "project:proj", "run-finished", "webhook", url=receiver.url + "/done"
    )
    log = env.services.runs.log
    log(env.me, "proj", "r1", [[0, 1.0, {"acc": 0.5}], [1, 2.0, {"acc": 0.8}]])
    log(env.me, "proj", "r1", [[2, 3.0, {"acc": 0.95}]])  # avg(0.8, 0.95) = 0.875
    log(env.me, "proj", "r1", [[3, 4.0, {"acc": 0.97}], [4, 5.0, {"loss": 1.0}]])  # 0.96
    log(env.me, "proj", "r1", [[5, 6.0, {"acc": 0.99}]])  # still met: no new event
    run.finish()
    env.dispatch()
    got = receiver.wait_for(2)
    assert sorted(r.path for r in got) == ["/", "/done"]
    metric = next(r for r in got if r.path == "/").json()
    assert metric["type"] == "run.metric"
    after = metric["data"]["event"]["after"]
    assert after["metric"] == "acc" and after["value"] == pytest.approx(0.96)
    assert after["threshold"] == "avg(acc, 2) >= 0.9"
    assert metric["data"]["run"]["id"] == "r1" and metric["data"]["project"] == "proj"
    done = next(r for r in got if r.path == "/done").json()
    assert done["type"] == "run.finished" and done["data"]["run"]["state"] == "finished"


def test_the_concurrency_limit_holds_deliveries_back(env: Env, receiver: Receiver) -> None:
    from concurrent.futures import ThreadPoolExecutor

    from modelbay.automations.dispatcher import run_once

    env.services.automations.create(
        env.me, "one", "registry:model", "version-linked", "webhook", url=receiver.url,
        concurrency=1,
    )  # fmt: skip
    for _ in range(3):
        env.link()
    receiver.delay = 0.2
    with ThreadPoolExecutor(4) as pool:
        rounds = [run_once(env.services.db, env.settings, pool=pool) for _ in range(3)]
    assert rounds == [1, 1, 1] and receiver.max_in_flight == 1
    assert [d["state"] for d in deliveries(env, "one")] == ["succeeded"] * 3


def test_a_delivery_whose_sender_died_is_sent_again_when_its_lease_expires(
    env: Env, receiver: Receiver
) -> None:
    env.services.automations.create(
        env.me, "lease", "registry:model", "version-linked", "webhook", url=receiver.url
    )
    env.link()
    with env.services.db.write() as conn:  # a sender claims it, then dies
        t = time.time()
        (held,) = store.claim(conn, now=t, lease_until=t + 0.3, worker="dead", limit=10)
    assert env.dispatch() == 0  # leased: nobody else sends it
    time.sleep(0.4)
    assert env.dispatch() == 1
    (got,) = receiver.wait_for(1)
    assert got.headers["webhook-id"] == held["message_id"]
    with env.services.db.write() as conn:  # the dead sender's late outcome is ignored
        assert not store.settle(
            conn, held["id"], worker="dead", state="dead", attempts=9, next_attempt_at=t, now=t
        )
    assert deliveries(env, "lease")[0]["state"] == "succeeded"


def test_project_scopes_see_their_artifacts_not_the_registry(env: Env, receiver: Receiver) -> None:
    env.link()  # makes project proj
    env.services.automations.create(
        env.me, "made", "project:proj", "artifact-created", "webhook", url=receiver.url + "/made"
    )
    env.services.automations.create(
        env.me, "moved", "project:proj", "alias-added", "webhook", url=receiver.url + "/moved",
        alias_regex="latest",
    )  # fmt: skip
    env.link()  # a new version of proj/net (latest moves) linked (the registry's latest too)
    env.dispatch()
    got = receiver.wait_for(2)
    assert sorted(r.path for r in receiver.requests) == ["/made", "/moved"]
    made = next(r for r in got if r.path == "/made").json()
    assert made["type"] == "artifact_version.created"
    assert made["data"]["version"]["ref"] == "proj/net:v1" and made["data"]["registry"] is None
    moved = next(r for r in got if r.path == "/moved").json()
    assert (
        moved["data"]["version"]["ref"] == "proj/net:v1" and "link" not in moved["data"]["version"]
    )
