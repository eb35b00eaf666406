import json
from pathlib import Path

from fastapi import FastAPI

COMMITTED = Path(__file__).resolve().parent.parent / "openapi" / "openapi.json"


def test_committed_openapi_matches_the_app(app: FastAPI) -> None:
    committed = json.loads(COMMITTED.read_text())
    assert committed == app.openapi(), "openapi/openapi.json is stale: run `make openapi`"


def test_every_operation_declares_its_problems(app: FastAPI) -> None:
    for path, item in app.openapi()["paths"].items():
        for method, operation in item.items():
            if path in {"/healthz", "/readyz", "/.well-known/jwks.json"}:
                continue
            problems = {
                status
                for status, response in operation["responses"].items()
                if "application/problem+json" in response.get("content", {})
            }
            # 503: authenticating alone reads the database, which may be unavailable.
            assert {"401", "403", "503"} <= problems, f"{method} {path} declares {problems}"
            if operation.get("parameters") or operation.get("requestBody"):
                assert "422" in problems, f"{method} {path} can fail validation"
