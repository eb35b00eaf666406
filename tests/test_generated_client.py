"""Integrators' view: a client generated from the committed document drives the service.

The generator is in the dev extra, so its absence fails this test rather than skipping it:
a document that no longer generates a usable client is a broken contract.
"""

import importlib
import shutil
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from tests.server import Server, running_server

COMMITTED = Path(__file__).resolve().parent.parent / "openapi" / "openapi.json"
PACKAGE = "reinforce_client"


def _generator() -> str:
    found = shutil.which("openapi-python-client", path=str(Path(sys.executable).parent))
    assert found, "openapi-python-client is missing: `make install` installs the dev extra"
    return found


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ModuleType]:
    folder = tmp_path_factory.mktemp("client")
    result = subprocess.run(
        [_generator(), "generate", "--path", str(COMMITTED), "--meta", "none"],
        cwd=folder,
        capture_output=True,
        text=True,
        # The generator formats its output with ruff, found on PATH.
        env={"PATH": f"{Path(sys.executable).parent}:/usr/bin:/bin"},
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    # No warning about skipped or conflicting schemas: every operation and model came out.
    assert "Warning" not in result.stdout + result.stderr, result.stdout + result.stderr
    sys.path.insert(0, str(folder))
    try:
        yield importlib.import_module(PACKAGE)
    finally:
        sys.path.remove(str(folder))
        for name in [n for n in sys.modules if n == PACKAGE or n.startswith(PACKAGE + ".")]:
            del sys.modules[name]


@pytest.fixture
def server(database_url: str) -> Iterator[Server]:
    with running_server(database_url, env={"REINFORCE_POINTS_PENDING_DAYS": "0"}) as running:
        yield running


def _module(name: str) -> Any:
    return importlib.import_module(f"{PACKAGE}.{name}")


def test_a_generated_client_earns_redeems_and_reads_nps(
    generated: ModuleType, server: Server
) -> None:
    models = _module("models")
    create_event = _module("api.events.create_event")
    get_customer = _module("api.customers.get_customer")
    redeem_points = _module("api.ledger.redeem_points")
    get_metric = _module("api.metrics.get_metric")
    now = datetime.now(UTC)

    with generated.AuthenticatedClient(base_url=server.url, token=server.api_key) as client:
        purchase = models.PurchaseEvent(
            id="evt-client-1",
            customer_id="alice",
            occurred_at=now,
            type_="purchase",
            data=models.PurchaseData(order_id="ord-1", amount="49.90", currency="EUR"),
        )
        result = create_event.sync(client=client, body=purchase)
        assert isinstance(result, models.EventResult), result
        assert result.balance.available == 49

        customer = get_customer.sync("alice", client=client)
        assert isinstance(customer, models.CustomerOut), customer
        assert customer.points.available == 49

        spent = redeem_points.sync(
            "alice", client=client, body=models.RedemptionIn(points=40, reason="voucher")
        )
        assert isinstance(spent, models.Movement), spent
        assert spent.balance.available == 9

        refused = redeem_points.sync(
            "alice", client=client, body=models.RedemptionIn(points=10, reason="too much")
        )
        assert isinstance(refused, models.Problem), refused
        assert refused.status == 422
        assert refused.type_ == "urn:reinforce:problem:insufficient-points"

        answer = models.FeedbackEvent(
            id="evt-client-2",
            customer_id="alice",
            occurred_at=now,
            type_="feedback",
            data=models.NpsAnswer(survey="nps", score=10),
        )
        assert isinstance(create_event.sync(client=client, body=answer), models.EventResult)

        nps = get_metric.sync(models.MetricName.NPS, client=client)
        assert isinstance(nps, models.NpsOut), nps
        assert (nps.responses, nps.promoters, nps.value) == (1, 1, 100.0)
