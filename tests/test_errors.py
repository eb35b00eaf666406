import logging

import httpx
import pytest
from fastapi import FastAPI

from app.errors import internal_error_problem

PROBLEM = "application/problem+json"


async def test_validation_error_points_at_the_field(
    client: httpx.AsyncClient, admin_headers: dict[str, str]
) -> None:
    response = await client.post(
        "/v1/api-keys", json={"name": "", "scopes": ["events:write", "nope"]}, headers=admin_headers
    )
    assert response.status_code == 422
    assert response.headers["content-type"] == PROBLEM
    body = response.json()
    assert body["type"] == "urn:reinforce:problem:validation-error"
    pointers = {(e["location"], e["pointer"]) for e in body["errors"]}
    assert pointers == {("body", "/name"), ("body", "/scopes/1")}
    assert all(e["detail"] for e in body["errors"])


async def test_malformed_json_is_a_422_problem(
    client: httpx.AsyncClient, admin_headers: dict[str, str]
) -> None:
    response = await client.post(
        "/v1/api-keys",
        content=b'{"name": "x", ',
        headers={**admin_headers, "Content-Type": "application/json"},
    )
    assert response.status_code == 422
    assert response.headers["content-type"] == PROBLEM
    assert response.json()["errors"][0]["location"] == "body"


async def test_path_parameter_error_names_the_parameter(
    client: httpx.AsyncClient, admin_headers: dict[str, str]
) -> None:
    response = await client.delete("/v1/api-keys/not-a-uuid", headers=admin_headers)
    assert response.status_code == 422
    assert response.json()["errors"][0] | {"detail": ""} == {
        "location": "path",
        "pointer": "/key_id",
        "detail": "",
    }


async def test_unknown_route_is_404_problem(client: httpx.AsyncClient) -> None:
    response = await client.get("/v1/nothing-here")
    assert response.status_code == 404
    assert response.headers["content-type"] == PROBLEM
    body = response.json()
    assert body["type"] == "urn:reinforce:problem:not-found"
    assert "/v1/nothing-here" in body["detail"]


async def test_wrong_method_is_405_problem_with_allow(client: httpx.AsyncClient) -> None:
    response = await client.delete("/healthz")
    assert response.status_code == 405
    assert response.headers["content-type"] == PROBLEM
    assert response.headers["allow"] == "GET, HEAD"
    assert response.json()["type"] == "urn:reinforce:problem:method-not-allowed"


async def test_405_allows_every_method_of_the_path(client: httpx.AsyncClient) -> None:
    # GET and POST on /v1/api-keys are two routes; Allow must name both.
    response = await client.options("/v1/api-keys")
    assert response.status_code == 405
    assert response.headers["allow"] == "GET, HEAD, POST"
    response = await client.patch("/v1/rules/some-rule")
    assert response.headers["allow"] == "DELETE, GET, HEAD, PUT"


async def test_unhandled_error_is_500_without_internals(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    async def explode() -> None:
        raise RuntimeError("secret internal detail")

    app.add_api_route("/explode", explode)
    response = await client.get("/explode", headers={"X-Request-ID": "req-123"})
    assert response.status_code == 500
    assert response.headers["content-type"] == PROBLEM
    body = response.json()
    assert body["request_id"] == "req-123"
    assert "secret internal detail" not in response.text
    assert "Traceback" not in response.text


async def test_request_id_is_echoed_or_generated(client: httpx.AsyncClient) -> None:
    given = await client.get(
        "/healthz", headers={"X-Request-ID": "0f1e2d3c4b5a69788796a5b4c3d2e1f0"}
    )
    assert given.headers["x-request-id"] == "0f1e2d3c4b5a69788796a5b4c3d2e1f0"
    replaced = await client.get("/healthz", headers={"X-Request-ID": "bad id\nwith newline"})
    assert replaced.headers["x-request-id"] != "bad id\nwith newline"
    generated = await client.get("/healthz")
    assert len(generated.headers["x-request-id"]) >= 16


async def test_absurdly_nested_json_is_a_400_problem(
    client: httpx.AsyncClient, admin_headers: dict[str, str]
) -> None:
    response = await client.post(
        "/v1/api-keys",
        content=b"[" * 100_000,
        headers={**admin_headers, "Content-Type": "application/json"},
    )
    assert response.status_code == 400
    assert response.headers["content-type"] == PROBLEM
    assert response.json()["type"] == "urn:reinforce:problem:malformed-request"


async def test_an_unexpected_error_is_a_500_problem_with_the_request_id(
    app: FastAPI, client: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    async def explode() -> None:
        raise KeyError("secret-internal-detail")

    app.add_api_route("/explode", explode)
    with caplog.at_level(logging.ERROR, logger="app.errors"):
        response = await client.get("/explode", headers={"X-Request-ID": "req-500-check"})
    assert response.status_code == 500
    assert response.headers["content-type"] == PROBLEM
    assert response.headers["x-request-id"] == "req-500-check"
    problem = response.json()
    assert problem["type"] == "urn:reinforce:problem:internal-error"
    assert problem["request_id"] == "req-500-check"
    assert "secret-internal-detail" not in response.text
    assert "Traceback" not in response.text
    (record,) = [r for r in caplog.records if r.getMessage() == "unhandled error"]
    assert record.exc_info is not None
    assert "secret-internal-detail" in str(record.exc_info[1])


def test_internal_error_problem_logs_and_answers_the_document(
    caplog: pytest.LogCaptureFixture,
) -> None:
    try:
        raise RuntimeError("boom")
    except RuntimeError as exc:
        with caplog.at_level(logging.ERROR, logger="app.errors"):
            problem = internal_error_problem(exc, "/v1/events/batch")
    assert problem["status"] == 500
    assert problem["type"] == "urn:reinforce:problem:internal-error"
    assert problem["instance"] == "/v1/events/batch"
    assert "boom" not in str(problem)
    assert caplog.records[-1].exc_info is not None
