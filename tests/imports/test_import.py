"""``reinforce import``: JSON Lines and CSV in, rejects out, and a second run that adds
nothing. Each import runs as its own process against the test database."""

import asyncio
import json
from pathlib import Path
from typing import Any

import httpx

from tests.factories import event, purchase, refund, when
from tests.imports.cli import reinforce


def write_lines(path: Path, lines: list[Any]) -> Path:
    path.write_text("".join((x if isinstance(x, str) else json.dumps(x)) + "\n" for x in lines))
    return path


async def run(database_url: str, *args: str) -> tuple[int, str, str]:
    done = await asyncio.to_thread(reinforce, database_url, "import", *args)
    return done.returncode, done.stdout, done.stderr


def rejects_of(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


async def test_jsonl_is_imported_once_with_its_refusals_written_aside(
    database_url: str, client: httpx.AsyncClient, admin_headers: dict[str, str], tmp_path: Path
) -> None:
    good = [purchase("ann", amount="10"), purchase("bob", amount="25"), event("signup", "cy")]
    stray_refund = refund("no-such-order", "5", customer="ann")
    bad_type = {**event("purchase", "dan"), "type": "teleport"}
    source = write_lines(
        tmp_path / "events.jsonl",
        [good[0], "{not json", good[1], stray_refund, "", bad_type, good[2]],
    )
    code, out, err = await run(database_url, str(source))
    assert code == 0, err
    assert "6 lines" in out
    assert "3 imported, 0 already there, 3 refused" in out

    rejects = rejects_of(tmp_path / "events.jsonl.rejects.jsonl")
    assert [r["line"] for r in rejects] == [2, 4, 6]
    assert rejects[0]["source"] == "{not json"
    assert rejects[0]["problem"]["type"].endswith("validation-error")
    assert rejects[1]["problem"]["type"].endswith("unknown-order")
    assert rejects[2]["problem"]["errors"][0]["pointer"] == "/type"

    for body in good:
        stored = await client.get(f"/v1/events/{body['id']}", headers=admin_headers)
        assert stored.status_code == 200, stored.text
    balance = await client.get("/v1/customers/bob", headers=admin_headers)
    assert balance.json()["points"]["earned"] == 25  # the default programme, as if posted

    # Again: nothing doubles; the same lines are refused again, and said so again.
    code, out, err = await run(database_url, str(source))
    assert code == 0, err
    assert "0 imported, 3 already there, 3 refused" in out
    assert len(rejects_of(tmp_path / "events.jsonl.rejects.jsonl")) == 3
    again = await client.get("/v1/customers/bob", headers=admin_headers)
    assert again.json()["points"]["earned"] == 25

    # An interrupted import resumes by running it again on the whole file.
    longer = write_lines(tmp_path / "more.jsonl", [*good, purchase("eve", amount="7")])
    code, out, err = await run(database_url, str(longer))
    assert "1 imported, 3 already there, 0 refused" in out, err
    assert not (tmp_path / "more.jsonl.rejects.jsonl").exists()

    # A reused id with another body is the API's 409, line by line.
    changed = write_lines(tmp_path / "changed.jsonl", [{**good[0], "channel": "store"}])
    code, out, err = await run(database_url, str(changed))
    assert "0 imported, 0 already there, 1 refused" in out, err
    [conflict] = rejects_of(tmp_path / "changed.jsonl.rejects.jsonl")
    assert conflict["problem"]["type"].endswith("event-id-conflict")


async def test_a_shop_export_is_read_through_its_column_mapping(
    database_url: str, client: httpx.AsyncClient, admin_headers: dict[str, str], tmp_path: Path
) -> None:
    export = tmp_path / "orders_export.csv"
    export.write_text(
        "Name,Email,Financial Status,Created at,Total,Currency\n"
        "#1001,Ann@Example.com,paid,2026-03-01 10:22:11 +0100,40.00,EUR\n"
        "#1002,bob@example.com,paid,2026-03-02 09:00:00,12.50,EUR\n"
        "#1003,,paid,2026-03-02 09:00:00,12.50,EUR\n"
        "#1004,cy@example.com,paid,yesterday,12.50,EUR\n"
    )
    code, out, err = await run(database_url, str(export))
    assert code == 0, err
    assert "2 imported, 0 already there, 2 refused" in out
    [missing, undated] = rejects_of(tmp_path / "orders_export.csv.rejects.jsonl")
    assert (missing["line"], undated["line"]) == (4, 5)
    assert "customer id or email" in missing["problem"]["detail"]
    assert undated["problem"]["errors"][0]["pointer"] == "/occurred_at"

    stored = (await client.get("/v1/events/order-1001", headers=admin_headers)).json()
    assert stored["customer_id"] == "ann@example.com"
    assert stored["occurred_at"] == "2026-03-01T09:22:11Z"
    assert stored["data"]["order_id"] == "1001"
    naive = (await client.get("/v1/events/order-1002", headers=admin_headers)).json()
    assert naive["occurred_at"] == "2026-03-02T09:00:00Z"  # no offset: UTC


async def test_mappings_that_cannot_work_import_nothing(
    database_url: str, client: httpx.AsyncClient, admin_headers: dict[str, str], tmp_path: Path
) -> None:
    export = tmp_path / "orders.csv"
    export.write_text(f"Order Number,Client,Placed,Paid\nA-1,ann,{when()},9.90\n")
    code, _, err = await run(database_url, str(export))
    assert code == 2
    assert "no column for occurred_at, amount, customer_id or email" in err

    mapped = ["--map", "Client=customer_id", "--map", "Placed=occurred_at", "--map", "Paid=amount"]
    code, _, err = await run(database_url, str(export), *mapped)
    assert code == 2
    assert "--currency" in err
    code, _, err = await run(database_url, str(export), *mapped, "--map", "Paid=price")
    assert code == 2
    assert "unknown field(s) price" in err

    listed = await client.get("/v1/events", headers=admin_headers)
    assert listed.json()["items"] == []

    code, out, err = await run(database_url, str(export), *mapped, "--currency", "EUR")
    assert code == 0, err
    assert "1 imported" in out
    assert (await client.get("/v1/events/order-A-1", headers=admin_headers)).status_code == 200
