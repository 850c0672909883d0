"""The REST API over a real server on loopback: authentication, the one error shape, raw input."""

from __future__ import annotations

import hashlib

import httpx
import pytest

import modelbay.errors as errors


@pytest.fixture
def client(server):
    with httpx.Client(
        base_url=server.url + "/api/v1", headers={"Authorization": f"Bearer {server.admin_key}"}
    ) as c:
        yield c


def assert_error(resp: httpx.Response, status: int, code: str) -> dict:
    assert resp.status_code == status, resp.text
    body = resp.json()
    assert set(body) == {"error"}
    assert set(body["error"]) == {"code", "message", "details"}
    assert body["error"]["code"] == code
    assert body["error"]["message"]
    return body["error"]


def commit_blob(client: httpx.Client, data: bytes) -> str:
    digest = hashlib.sha256(data).hexdigest()
    assert client.put(f"/blobs/{digest}", content=data).status_code in (200, 201)
    return digest


def test_health_needs_no_key_but_everything_else_does(server):
    assert httpx.get(server.url + "/api/v1/health").json() == {"status": "ok"}
    assert_error(httpx.get(server.url + "/api/v1/registries"), 401, "unauthenticated")
    wrong = httpx.get(server.url + "/api/v1/registries", headers={"Authorization": "Bearer nope"})
    assert_error(wrong, 401, "unauthenticated")
    basic = httpx.get(server.url + "/api/v1/registries", headers={"Authorization": "Basic abc"})
    assert_error(basic, 401, "unauthenticated")


def test_openapi_lists_the_api(server):
    spec = httpx.get(server.url + "/openapi.json").json()
    assert "/api/v1/registries/{registry}/collections/{collection}/versions" in spec["paths"]


def test_malformed_json_and_unknown_fields(client):
    resp = client.post(
        "/projects/p/runs", content=b"{not json", headers={"Content-Type": "application/json"}
    )
    err = assert_error(resp, 400, "invalid_input")
    assert "malformed JSON" in err["message"]
    assert_error(client.post("/projects/p/runs", json={"idd": "x"}), 400, "invalid_input")
    assert_error(client.post("/projects/p/runs", json=[1, 2]), 400, "invalid_input")


def test_unknown_endpoint_and_method(client):
    assert_error(client.get("/nothing-here"), 404, "not_found")
    assert client.delete("/registries").status_code == 405


def test_errors_map_back_to_the_same_class(client):
    resp = client.get("/resolve", params={"ref": "model-registry/none:production"})
    err = errors.from_payload(resp.json(), resp.status_code)
    assert type(err) is errors.NotFoundError
    resp = client.get("/resolve", params={"ref": "a/b/c/d"})
    assert type(errors.from_payload(resp.json(), resp.status_code)) is errors.InvalidReferenceError


def test_every_error_class_has_a_distinct_code_and_fitting_status():
    classes = errors.ERRORS_BY_CODE
    assert len(classes) == len({c.code for c in classes.values()})
    for code, cls in classes.items():
        restored = errors.from_payload(cls("m", {"k": 1}).to_payload(), cls.status)
        assert type(restored) is cls and restored.details == {"k": 1}, code
    assert errors.AlreadyExistsError.status == 409
    assert errors.InvalidPathError.status == 400


def test_blob_upload_is_verified(client):
    data = b"some bytes"
    digest = hashlib.sha256(data).hexdigest()
    err = assert_error(
        client.put(f"/blobs/{digest}", content=b"other bytes"), 400, "digest_mismatch"
    )
    assert err["details"]["expected"] == digest
    assert client.post("/blobs/missing", json={"digests": [digest]}).json() == {"missing": [digest]}
    assert_error(client.put("/blobs/../../etc/passwd", content=b"x"), 404, "not_found")
    assert_error(client.put("/blobs/NOTHEX", content=b"x"), 400, "invalid_input")
    assert_error(client.post("/blobs/missing", json={"digests": ["zz"]}), 400, "invalid_input")
    commit_blob(client, data)
    assert client.post("/blobs/missing", json={"digests": [digest]}).json() == {"missing": []}
    assert client.get(f"/blobs/{digest}").content == data


def test_commit_refuses_unsafe_paths_and_missing_blobs(client):
    digest = commit_blob(client, b"payload")
    for bad in ["../x", "/abs", "a\\b", "a\x00b", "", "a/./b"]:
        body = {"type": "model", "files": [{"path": bad, "sha256": digest, "size": 7}]}
        assert_error(
            client.post("/projects/pp/artifacts/m/versions", json=body), 400, "invalid_path"
        )
    missing = hashlib.sha256(b"never sent").hexdigest()
    body = {"type": "model", "files": [{"path": "m.bin", "sha256": missing, "size": 10}]}
    err = assert_error(
        client.post("/projects/pp/artifacts/m/versions", json=body), 400, "invalid_input"
    )
    assert err["details"]["missing"] == [missing]
    body = {"type": "model", "files": [{"path": "m.bin", "sha256": digest, "size": 999}]}
    assert_error(client.post("/projects/pp/artifacts/m/versions", json=body), 400, "invalid_input")
    assert_error(client.get("/projects/pp/artifacts/m/versions"), 404, "not_found")


def test_registry_flow_over_rest(client):
    digest = commit_blob(client, b"rest model")
    body = {"type": "model", "files": [{"path": "m.bin", "sha256": digest, "size": 10}]}
    resp = client.post("/projects/rest/artifacts/m/versions", json=body)
    assert resp.status_code == 201 and resp.json()["version"] == "v0"
    again = client.post("/projects/rest/artifacts/m/versions", json=body)
    assert again.status_code == 200 and again.json()["created"] is False
    link = client.post(
        "/registries/model/collections/Rest/versions", json={"artifact": "rest/m:v0"}
    )
    assert link.status_code == 201 and link.json()["link"]["ref"] == "model-registry/Rest:v0"
    assert (
        client.post(
            "/registries/model/collections/Rest/versions", json={"artifact": "rest/m:v0"}
        ).status_code
        == 200
    )
    put = client.put(
        "/registries/model/collections/Rest/aliases/production", json={"version": "v0"}
    )
    assert put.status_code == 200 and "production" in put.json()["aliases"]
    assert_error(
        client.put("/registries/model/collections/Rest/aliases/latest", json={"version": "v0"}),
        400,
        "invalid_name",
    )
    assert_error(
        client.put("/registries/model/collections/Rest/aliases/v2", json={"version": "v0"}),
        400,
        "invalid_name",
    )
    assert_error(
        client.put("/registries/model/collections/Rest/aliases/prod", json={"version": "v7"}),
        404,
        "not_found",
    )
    resolved = client.get("/resolve", params={"ref": "models:/Rest@production"}).json()
    assert resolved["link"]["version"] == "v0"
    events = client.get("/registries/model/collections/Rest/history").json()["events"]
    assert events[0]["action"] == "alias.added" and events[0]["actor"] == "admin"
    assert client.delete("/registries/model/collections/Rest/aliases/production").status_code == 204
    assert_error(
        client.delete("/registries/model/collections/Rest/aliases/production"), 404, "not_found"
    )


def test_dataset_refused_by_model_registry_changes_nothing(client):
    digest = commit_blob(client, b"dataset rows")
    body = {"type": "dataset", "files": [{"path": "d.csv", "sha256": digest, "size": 12}]}
    assert client.post("/projects/rest/artifacts/d/versions", json=body).status_code in (200, 201)
    resp = client.post(
        "/registries/model/collections/DsInModel/versions", json={"artifact": "rest/d:v0"}
    )
    assert_error(resp, 409, "conflict")
    assert_error(client.get("/registries/model/collections/DsInModel"), 404, "not_found")


def test_users_and_permissions(client, server):
    created = client.post("/users", json={"name": "alice"}).json()
    assert created["key"].startswith("mb_")
    assert_error(client.post("/users", json={"name": "alice"}), 409, "already_exists")
    alice = {"Authorization": f"Bearer {created['key']}"}
    assert httpx.get(server.url + "/api/v1/whoami", headers=alice).json() == {
        "user": "alice",
        "is_admin": False,
    }
    resp = httpx.post(server.url + "/api/v1/registries", json={"name": "alices"}, headers=alice)
    assert_error(resp, 403, "permission_denied")
    resp = httpx.post(server.url + "/api/v1/users", json={"name": "bob"}, headers=alice)
    assert_error(resp, 403, "permission_denied")
