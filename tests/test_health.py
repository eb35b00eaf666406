import httpx

from app.main import create_app
from tests.conftest import make_settings


async def test_healthz(client: httpx.AsyncClient) -> None:
    response = await client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


async def test_readyz_on_a_migrated_database(client: httpx.AsyncClient) -> None:
    response = await client.get("/readyz")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok"
    assert body["schema_revision"] == body["expected_revision"] is not None


async def test_readyz_refuses_an_unmigrated_database(empty_database_url: str) -> None:
    app = create_app(make_settings(empty_database_url))
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:
            response = await http.get("/readyz")
    assert response.status_code == 503
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    assert problem["type"] == "urn:reinforce:problem:not-ready"
    assert problem["schema_revision"] is None
    assert problem["expected_revision"] is not None


async def test_prometheus_metrics_need_a_key(
    client: httpx.AsyncClient, admin_headers: dict[str, str]
) -> None:
    assert (await client.get("/metrics")).status_code == 401
    await client.get("/healthz")
    response = await client.get("/metrics", headers=admin_headers)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    assert "http_requests_total" in response.text
