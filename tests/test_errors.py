import httpx
from fastapi import FastAPI

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
    assert response.headers["allow"] == "GET"
    assert response.json()["type"] == "urn:reinforce:problem:method-not-allowed"


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
