"""The whole local mesh through the README's own command (scripts/run)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
from pathlib import Path

import grpc
import httpx
import pytest

from mesh.logs import schema_problems
from mesh.runner import free_offset
from mesh.topology import load_topology
from shop.catalog.v1 import catalog_pb2, catalog_pb2_grpc
from shop.inventory.v1 import inventory_pb2, inventory_pb2_grpc
from shop.orders.v1 import orders_pb2, orders_pb2_grpc
from shop.type.v1.money_pb2 import Money
from tests.support.waiting import until_line

ROOT = Path(__file__).resolve().parents[2]


PAYMENT_DEADLINE = 30


@pytest.mark.slow
@pytest.mark.timeout(360)
def test_scripts_run_serves_the_shop_and_stops_cleanly(tmp_path: Path) -> None:
    offset = free_offset()
    topology = load_topology()
    out = tmp_path / "run.out"
    with out.open("w") as sink:
        process = subprocess.Popen(
            [
                str(ROOT / "scripts" / "run"),
                "--data-dir",
                str(tmp_path / "data"),
                "--port-offset",
                str(offset),
            ],
            stdout=sink,
            stderr=subprocess.STDOUT,
            cwd=ROOT,
            # Long enough to pay in time on a busy machine, short enough to see an expiry.
            env={**os.environ, "MESH_PAYMENT_DEADLINE_SECONDS": str(PAYMENT_DEADLINE)},
        )
    try:
        # The runner's ready line, printed once every replica is up.
        text = until_line(out, "Press Ctrl-C", process=process, timeout=120)
        for name in ("catalog", "inventory", "orders", "gateway"):
            assert f"ready   {name}-0" in text
        assert "ready   workflow" in text  # the local Step Functions and Lambda
        assert "ready   inventory-1" in text and "ready   catalog-1" in text
        assert "Registered instances" in text
        port = {name: spec.port + offset for name, spec in topology.services.items()}
        assert f"curl -s http://127.0.0.1:{port['gateway']}/v1/products" in text
        assert f"grpcurl -plaintext 127.0.0.1:{port['catalog']} list" in text

        with (
            grpc.insecure_channel(f"127.0.0.1:{port['catalog']}") as cat,
            grpc.insecure_channel(f"127.0.0.1:{port['inventory']}") as inv,
            grpc.insecure_channel(f"127.0.0.1:{port['orders']}") as ords,
        ):
            catalog_pb2_grpc.CatalogServiceStub(cat).CreateProduct(
                catalog_pb2.CreateProductRequest(
                    product=catalog_pb2.Product(
                        sku="mug",
                        display_name="Mug",
                        price=Money(currency_code="EUR", amount_minor=900),
                        active=True,
                    )
                ),
                timeout=10,
            )
            inventory = inventory_pb2_grpc.InventoryServiceStub(inv)
            inventory.SetStock(
                inventory_pb2.SetStockRequest(name="stocks/mug", on_hand=3), timeout=10
            )
            order = (
                orders_pb2_grpc.OrdersServiceStub(ords)
                .CreateOrder(
                    orders_pb2.CreateOrderRequest(
                        request_id="e2e-1", lines=[orders_pb2.OrderLineInput(sku="mug", quantity=2)]
                    ),
                    timeout=10,
                )
                .order
            )
            assert order.total.amount_minor == 1800
            stock = inventory.GetStock(
                inventory_pb2.GetStockRequest(name="stocks/mug"), timeout=10
            ).stock
            assert stock.available == 1

        data = tmp_path / "data"
        admin, alice, bob = (
            _token(data, "--admin"),
            _token(data, "--user", "alice"),
            _token(data, "--user", "bob"),
        )
        _rest_walkthrough(f"http://127.0.0.1:{port['gateway']}", admin, alice, bob)
        trace_id = _observe_while_running(f"http://127.0.0.1:{port['gateway']}", data, alice, text)

        process.send_signal(signal.SIGINT)
        assert process.wait(60) == 0, out.read_text()
        text = out.read_text()
        for name in ("gateway", "orders", "inventory", "catalog"):
            assert f"stopped {name}-0 (exit 0)" in text
        assert "stopped inventory-1 (exit 0)" in text  # the second replica, on a free port
        assert (tmp_path / "data" / "orders.db").exists()
        secrets = [admin, alice, bob, SECRET, TEST_CARD]
        _no_secret_in_any_log(tmp_path / "data" / "logs", out, secrets)
        _no_secret_in_any_log(tmp_path / "data" / "traces", out, secrets)
        _one_schema_one_trace(tmp_path / "data", trace_id)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


SECRET = "hunter2-Pa55w0rd-never-logged"
# The sandbox's second succeeding test card: a card number is never logged or traced.
TEST_CARD = "5555555555554444"


def _token(data: Path, *args: str) -> str:
    """What a user does: scripts/token against the mesh's data dir."""
    result = subprocess.run(
        [str(ROOT / "scripts" / "token"), "--data-dir", str(data), *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return result.stdout.strip()


def _no_secret_in_any_log(logs: Path, console: Path, secrets: list[str]) -> None:
    files = [*logs.glob("*.log"), *logs.glob("*.jsonl"), console]  # logs, exported spans
    assert len(files) > 4
    for path in files:
        text = path.read_text(errors="replace")
        for secret in secrets:
            # The whole token, and its signature alone (the part that makes it usable).
            for needle in {secret, secret.rsplit(".", 1)[-1]}:
                assert needle not in text, f"{path.name} holds a secret"


def _rest_walkthrough(base: str, admin: str, alice: str, bob: str) -> None:
    """What a client of the REST API does: through the gateway, over HTTP, end to end."""
    as_admin = {"Authorization": f"Bearer {admin}"}
    with httpx.Client(base_url=base, timeout=10) as anonymous:
        assert anonymous.get("/v1/products").status_code == 200  # public reads
        refused = anonymous.post("/v1/products", json={"sku": "x"})
        assert refused.status_code == 401
        assert refused.headers["www-authenticate"].startswith("Bearer")
        assert anonymous.post("/v1/reservations", json={}).status_code == 404  # internal
        customer = anonymous.put(
            "/v1/stocks/tea", json={"onHand": "1"}, headers={"Authorization": f"Bearer {alice}"}
        )
        assert customer.status_code == 403  # alice holds no inventory.write
        # A token and a password-like value go through every hop; no log may keep them.
        forged = anonymous.post(
            "/v1/products", json={"sku": "x"}, headers={"Authorization": f"Bearer {SECRET}.x.y"}
        )
        assert forged.status_code == 401
    with httpx.Client(base_url=base, timeout=10, headers=as_admin) as http:
        product = {
            "sku": "tea",
            "displayName": "Tea",
            "description": f"password={SECRET}",
            "price": {"currencyCode": "EUR", "amountMinor": "450"},
            "active": True,
        }
        created = http.post("/v1/products", json=product)
        assert created.status_code == 200, created.text
        assert created.json()["name"] == "products/tea"
        assert http.post("/v1/products", json=product).status_code == 409
        batch = http.get("/v1/products:batchGet", params={"names": ["products/tea"] * 2})
        assert [p["sku"] for p in batch.json()["products"]] == ["tea", "tea"]
        stock = http.put("/v1/stocks/tea", json={"onHand": "10"})
        assert stock.status_code == 200, stock.text
        assert stock.json()["available"] == "10"
    with httpx.Client(base_url=base, timeout=10) as other:
        other.headers["Authorization"] = f"Bearer {bob}"
        _orders_walkthrough(base, alice, other)


def _orders_walkthrough(base: str, alice: str, bob: httpx.Client) -> None:
    with httpx.Client(base_url=base, timeout=10) as http:
        http.headers["Authorization"] = f"Bearer {alice}"

        names = []
        for i in range(3):
            order = http.post(
                "/v1/orders",
                json={"requestId": f"rest-{i}", "lines": [{"sku": "tea", "quantity": "2"}]},
            )
            assert order.status_code == 200, order.text
            assert order.json()["total"]["amountMinor"] == "900"
            names.append(order.json()["name"])
        again = http.post(
            "/v1/orders", json={"requestId": "rest-0", "lines": [{"sku": "tea", "quantity": "2"}]}
        )
        assert again.json()["name"] == names[0]  # idempotent by request id

        got = http.get(f"/v1/{names[1]}")
        assert got.status_code == 200
        assert got.json()["status"] == "STATUS_PENDING_PAYMENT"
        assert got.json()["paid"] is False and got.json()["paymentDeadline"]
        # Paid with a test card: the workflow takes it to PAID, then FULFILLED.
        card = {"number": TEST_CARD, "expMonth": 12, "expYear": 2099, "cvc": "123"}
        assert bob.post(f"/v1/{names[1]}:confirmPayment", json={"card": card}).status_code == 404
        with http.stream("GET", f"/v1/{names[1]}:watch") as stream:
            paid = http.post(f"/v1/{names[1]}:confirmPayment", json={"card": card})
            assert paid.status_code == 200, paid.text
            assert paid.json()["paid"] is True
            seen = [json.loads(line)["result"]["order"]["status"] for line in stream.iter_lines()]
        assert seen[0] == "STATUS_PENDING_PAYMENT"
        assert seen[-2:] == ["STATUS_PAID", "STATUS_FULFILLED"]

        listed: list[str] = []
        token = ""
        while True:
            page = http.get(
                "/v1/orders", params={"pageSize": 2, **({"pageToken": token} if token else {})}
            )
            assert page.status_code == 200, page.text
            listed += [o["name"] for o in page.json().get("orders", [])]
            token = page.json().get("nextPageToken", "")
            if not token:
                break
        assert names[0] in listed and names[2] in listed

        with http.stream("GET", f"/v1/{names[2]}:watch") as stream:
            lines = stream.iter_lines()
            first = json.loads(next(lines))
            assert first["result"]["order"]["status"] == "STATUS_PENDING_PAYMENT"
            cancelled = http.post(f"/v1/{names[2]}:cancel", json={})
            assert cancelled.status_code == 200, cancelled.text
            assert cancelled.json()["status"] == "STATUS_CANCELLED"
            second = json.loads(next(lines))
            assert second["result"]["order"]["status"] == "STATUS_CANCELLED"
        # The order never paid expires at its deadline and its stock comes back:
        # 10 on hand, one order fulfilled (2 gone), nothing held.
        with http.stream("GET", f"/v1/{names[0]}:watch", timeout=PAYMENT_DEADLINE * 2) as stream:
            last = [json.loads(line) for line in stream.iter_lines()][-1]
        assert last["result"]["order"]["status"] == "STATUS_EXPIRED"
        tea = http.get("/v1/stocks/tea").json()
        assert (tea["onHand"], tea["reserved"], tea["available"]) == ("8", "0", "8")

        missing = http.get("/v1/orders/" + "0" * 32)
        assert missing.status_code == 404
        assert missing.json()["code"] == 5
        # Bob sees none of Alice's orders, and hers look like no order at all.
        assert bob.get("/v1/orders").json().get("orders", []) == []
        theirs = bob.get(f"/v1/{names[1]}")
        assert theirs.status_code == 404
        assert theirs.json()["message"].replace(names[1].split("/")[1], "X") == missing.json()[
            "message"
        ].replace("0" * 32, "X")
        bad = http.post(
            "/v1/orders", json={"requestId": "x", "lines": [{"sku": "tea", "quantity": "0"}]}
        )
        assert bad.status_code == 400
        assert bad.json()["details"]


def _observe_while_running(base: str, data: Path, alice: str, console: str) -> str:
    """One order through the gateway; the live view sees every replica. Returns its trace id."""
    assert "Metrics (Prometheus text):" in console and "scripts/top" in console
    with httpx.Client(base_url=base, timeout=10) as http:
        order = http.post(
            "/v1/orders",
            json={"requestId": "observed-1", "lines": [{"sku": "tea", "quantity": "1"}]},
            headers={"Authorization": f"Bearer {alice}"},
        )
    assert order.status_code == 200, order.text
    top = subprocess.run(
        [str(ROOT / "scripts" / "top"), "--once", "--data-dir", str(data)],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    rows = {line.split()[0]: line.split()[1] for line in top.stdout.splitlines()[2:]}
    # Every replica services.yaml runs, each once.
    assert set(rows) == {
        f"{name}-{index}"
        for name, spec in load_topology().services.items()
        for index in range(spec.replicas)
    }
    assert set(rows.values()) == {"SERVING"}, top.stdout
    return order.headers["x-trace-id"]


def _one_schema_one_trace(data: Path, trace_id: str) -> None:
    """Every line of every process's log parses in one schema; one order is one trace."""
    touched: set[str] = set()
    for path in sorted((data / "logs").glob("*.log")):
        for number, line in enumerate(path.read_text().splitlines(), 1):
            entry = json.loads(line)  # every line, not only ours: uvicorn's too
            assert schema_problems(entry) == [], f"{path.name}:{number}: {line}"
            if entry["logger"].endswith(".access") and entry.get("trace_id") == trace_id:
                touched.add(entry["service"])
    assert touched == {"gateway", "orders", "catalog", "inventory"}
    # The processes' own exported spans, put together by the trace viewer.
    shown = subprocess.run(
        [str(ROOT / "scripts" / "trace"), trace_id, "--data-dir", str(data)],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout
    tree = shown.splitlines()[1:]
    assert "gateway-0 server POST /v1/orders" in tree[0]
    for rpc in (
        "OrdersService/CreateOrder",
        "CatalogService/BatchGetProducts",
        "InventoryService/ReserveStock",
    ):
        assert any("server shop." in line and rpc in line for line in tree), shown
    assert any("INSERT" in line for line in tree)  # the database work is in the tree too
