"""The whole local mesh on mutual TLS (scripts/run --tls): the shop works, strangers are refused."""

from __future__ import annotations

import os
import signal
import subprocess
from pathlib import Path

import grpc
import httpx
import pytest

from mesh.certs import CLIENT, CertFiles
from mesh.issuer import LocalIssuer
from mesh.runner import free_offset
from mesh.tls import TARGET_NAME_OVERRIDE, TlsSettings, channel_credentials
from mesh.topology import load_topology
from shop.catalog.v1 import catalog_pb2, catalog_pb2_grpc
from shop.inventory.v1 import inventory_pb2, inventory_pb2_grpc
from shop.orders.v1 import orders_pb2, orders_pb2_grpc
from shop.type.v1.money_pb2 import Money
from tests.e2e.test_local_mesh import ROOT
from tests.support.tls import NAMESPACE, make_pki
from tests.support.waiting import until_line


def _channel(port: int, service: str, tls: TlsSettings) -> grpc.Channel:
    return grpc.secure_channel(
        f"127.0.0.1:{port}",
        channel_credentials(tls),
        options=[(TARGET_NAME_OVERRIDE, f"{service}.{NAMESPACE}")],
    )


@pytest.mark.slow
def test_scripts_run_tls_serves_the_shop_on_mutual_tls(tmp_path: Path) -> None:
    offset = free_offset()
    data = tmp_path / "data"
    out = tmp_path / "run.out"
    # A process that inherited TLS settings would present them instead of its own.
    env = {k: v for k, v in os.environ.items() if not k.startswith("MESH_TLS_")}
    with out.open("w") as sink:
        process = subprocess.Popen(
            [
                str(ROOT / "scripts" / "run"),
                "--tls",
                "--data-dir",
                str(data),
                "--port-offset",
                str(offset),
            ],
            stdout=sink,
            stderr=subprocess.STDOUT,
            cwd=ROOT,
            env=env,
        )
    try:
        # The runner's ready line, printed once every replica is up.
        text = until_line(out, "Press Ctrl-C", process=process, timeout=120)
        assert "Mutual TLS with the certificates in" in text
        port = {name: spec.port + offset for name, spec in load_topology().services.items()}
        files = CertFiles(data / "tls")
        assert f"-cert {files.cert(CLIENT)}" in text and "-plaintext" not in text
        assert f"-servername catalog.{NAMESPACE} 127.0.0.1:{port['catalog']} list" in text

        client = TlsSettings.from_files(files.cert(CLIENT), files.key(CLIENT), files.ca)
        with (
            _channel(port["catalog"], "catalog", client) as cat,
            _channel(port["inventory"], "inventory", client) as inv,
            _channel(port["orders"], "orders", client) as ords,
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
            inventory_pb2_grpc.InventoryServiceStub(inv).SetStock(
                inventory_pb2.SetStockRequest(name="stocks/mug", on_hand=5), timeout=10
            )
            # orders calls catalog and inventory itself, over mutual TLS.
            order = (
                orders_pb2_grpc.OrdersServiceStub(ords)
                .CreateOrder(
                    orders_pb2.CreateOrderRequest(
                        request_id="tls-e2e-1",
                        lines=[orders_pb2.OrderLineInput(sku="mug", quantity=2)],
                    ),
                    timeout=10,
                )
                .order
            )
            assert order.total.amount_minor == 1800

        # The gateway reaches orders over mutual TLS too; its HTTP side is unchanged.
        # ...and speaks for alice there: orders believes it from the gateway's certificate.
        alice = LocalIssuer.load_or_create(data).mint("alice", ["orders.write"])
        with httpx.Client(
            base_url=f"http://127.0.0.1:{port['gateway']}",
            timeout=10,
            headers={"Authorization": f"Bearer {alice}"},
        ) as http:
            created = http.post(
                "/v1/orders",
                json={"requestId": "tls-e2e-2", "lines": [{"sku": "mug", "quantity": "1"}]},
            )
            assert created.status_code == 200, created.text
            assert http.get("/v1/stocks/mug").json()["available"] == "2"

        strangers = {
            "plaintext": grpc.insecure_channel(f"127.0.0.1:{port['orders']}"),
            "no certificate": grpc.secure_channel(
                f"127.0.0.1:{port['orders']}",
                grpc.ssl_channel_credentials(root_certificates=files.ca.read_bytes()),
                options=[(TARGET_NAME_OVERRIDE, f"orders.{NAMESPACE}")],
            ),
            "another CA": _channel(
                port["orders"], "orders", make_pki(tmp_path / "rogue").rogue("gateway")
            ),
        }
        for label, channel in strangers.items():
            with channel, pytest.raises(grpc.RpcError) as refused:
                orders_pb2_grpc.OrdersServiceStub(channel).GetOrder(
                    orders_pb2.GetOrderRequest(name=order.name), timeout=5
                )
            assert refused.value.code() == grpc.StatusCode.UNAVAILABLE, label  # type: ignore[attr-defined]

        process.send_signal(signal.SIGINT)
        assert process.wait(60) == 0, out.read_text()
        text = out.read_text()
        for name in ("orders", "inventory", "catalog"):
            assert f"stopped {name}-0 (exit 0)" in text
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
