"""TLS on real servers and clients: mutual TLS admits the mesh's certificates and nothing else."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import grpc
import pytest
from grpc import aio

from mesh.channels import ServiceChannels
from mesh.discovery import AWS_INSTANCE_IPV4, AWS_INSTANCE_PORT, MemoryRegistry
from mesh.probe import check_grpc
from mesh.server import MeshServer, ServiceUnit
from mesh.tls import (
    TARGET_NAME_OVERRIDE,
    TlsSettings,
    channel_credentials,
    peer_identity,
    server_name,
)
from shop.catalog.v1 import catalog_pb2, catalog_pb2_grpc
from shop.orders.v1 import orders_pb2, orders_pb2_grpc
from shop.type.v1.money_pb2 import Money
from tests.integration.mesh.support import seed
from tests.support.mesh import serve
from tests.support.tls import NAMESPACE, Pki, make_pki

WHO = "test.Who"
ME = f"/{WHO}/Me"


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return make_pki(tmp_path_factory.mktemp("tls"))


def who_unit(label: str) -> ServiceUnit:
    """A service that answers with its own label and the caller's verified identity."""

    async def me(request: bytes, context: aio.ServicerContext[Any, Any]) -> bytes:
        return f"{label} {peer_identity(context)}".encode()

    def add(server: aio.Server) -> None:
        handler = grpc.method_handlers_generic_handler(
            WHO, {"Me": grpc.unary_unary_rpc_method_handler(me)}
        )
        server.add_generic_rpc_handlers((handler,))

    return ServiceUnit("catalog", [WHO], add)


@asynccontextmanager
async def who_server(tls: TlsSettings | None, label: str = "who") -> AsyncIterator[MeshServer]:
    server = MeshServer(who_unit(label), tls=tls, access_log=False)
    await server.start()
    try:
        yield server
    finally:
        await server.stop(0)


def secure(address: str, tls: TlsSettings, name: str = f"catalog.{NAMESPACE}") -> aio.Channel:
    return aio.secure_channel(
        address, channel_credentials(tls), options=[(TARGET_NAME_OVERRIDE, name)]
    )


async def ask(channel: aio.Channel) -> str:
    call = channel.unary_unary(ME, request_serializer=None, response_deserializer=None)
    reply: bytes = await call(b"", timeout=5)
    return reply.decode()


async def test_mutual_tls_call_carries_the_callers_service_name(pki: Pki) -> None:
    async with who_server(pki.tls("catalog")) as server:
        async with secure(server.address, pki.tls("gateway")) as channel:
            assert await ask(channel) == "who gateway"
        async with secure(server.address, pki.tls("orders"), name="catalog") as channel:
            assert await ask(channel) == "who orders"  # the bare name is in the certificate too


def _plaintext(address: str, pki: Pki) -> aio.Channel:
    return aio.insecure_channel(address)


def _no_certificate(address: str, pki: Pki) -> aio.Channel:
    credentials = grpc.ssl_channel_credentials(root_certificates=pki.files.ca.read_bytes())
    return aio.secure_channel(address, credentials, options=[(TARGET_NAME_OVERRIDE, "catalog")])


def _other_ca(address: str, pki: Pki) -> aio.Channel:
    return secure(address, pki.rogue("gateway"))


@pytest.mark.parametrize("client", [_plaintext, _no_certificate, _other_ca])
async def test_mutual_tls_refuses_clients_without_a_valid_certificate(
    pki: Pki, client: Callable[[str, Pki], aio.Channel]
) -> None:
    async with who_server(pki.tls("catalog")) as server:
        async with client(server.address, pki) as channel:
            with pytest.raises(aio.AioRpcError) as refused:
                await ask(channel)
            assert refused.value.code() == grpc.StatusCode.UNAVAILABLE
        # The server is fine; only that client was turned away.
        async with secure(server.address, pki.tls("gateway")) as channel:
            assert await ask(channel) == "who gateway"


async def test_clients_refuse_a_server_with_another_name_or_ca(pki: Pki) -> None:
    # orders dials "catalog" but reached inventory: the name does not match.
    async with (
        who_server(pki.tls("inventory")) as server,
        secure(server.address, pki.tls("orders")) as channel,
    ):
        with pytest.raises(aio.AioRpcError) as refused:
            await ask(channel)
        assert refused.value.code() == grpc.StatusCode.UNAVAILABLE
    async with (
        who_server(pki.rogue("catalog")) as server,
        secure(server.address, pki.tls("orders")) as channel,
    ):
        with pytest.raises(aio.AioRpcError):
            await ask(channel)


async def test_one_way_tls_admits_any_client_but_gives_no_identity(pki: Pki) -> None:
    async with who_server(pki.tls("catalog", client_auth=False)) as server:
        async with _no_certificate(server.address, pki) as channel:
            assert await ask(channel) == "who None"
        async with secure(server.address, pki.tls("gateway")) as channel:
            assert await ask(channel) == "who None"  # not asked for, so not verified
        async with _plaintext(server.address, pki) as channel:
            with pytest.raises(aio.AioRpcError):
                await ask(channel)


async def test_plaintext_has_no_identity() -> None:
    async with who_server(None) as server, aio.insecure_channel(server.address) as channel:
        assert await ask(channel) == "who None"


async def test_service_channels_reach_every_replica_over_tls(pki: Pki) -> None:
    registry = MemoryRegistry()
    async with who_server(pki.tls("catalog"), "a") as a, who_server(pki.tls("catalog"), "b") as b:
        for server in (a, b):
            await registry.register(
                "catalog",
                f"catalog-{server.port}",
                {AWS_INSTANCE_IPV4: "127.0.0.1", AWS_INSTANCE_PORT: str(server.port)},
            )
        channels = ServiceChannels(
            registry,
            {"catalog": []},
            poll_interval=0.1,
            tls=pki.tls("gateway"),
            server_names={"catalog": server_name("catalog", NAMESPACE)},
        )
        await channels.start()
        try:
            replies = {await ask(channels.channel("catalog")) for _ in range(20)}
        finally:
            await channels.stop()
    # Both addresses of the one ipv4:a,b target answered, each checked as "catalog".
    assert replies == {"a gateway", "b gateway"}


async def test_service_channels_without_a_name_override_are_refused(pki: Pki) -> None:
    registry = MemoryRegistry()
    async with who_server(pki.tls("catalog")) as server:
        await registry.register(
            "catalog",
            "catalog-1",
            {AWS_INSTANCE_IPV4: "127.0.0.1", AWS_INSTANCE_PORT: str(server.port)},
        )
        # The mesh's own name for the service is "billing" here: not in catalog's certificate.
        channels = ServiceChannels(
            registry, {"catalog": []}, tls=pki.tls("gateway"), server_names={"catalog": "billing"}
        )
        await channels.start()
        try:
            with pytest.raises(aio.AioRpcError) as refused:
                await ask(channels.channel("catalog"))
            assert refused.value.code() == grpc.StatusCode.UNAVAILABLE
        finally:
            await channels.stop()


async def test_the_shop_over_mutual_tls_through_the_local_registry(
    pki: Pki, tmp_path: Path
) -> None:
    """orders finds catalog and inventory in the registry and calls them over mutual TLS."""
    registry = {
        "MESH_REGISTRY": "local",
        "MESH_REGISTRY_FILE": str(tmp_path / "registry.json"),
        "MESH_DISCOVERY_POLL_SECONDS": "0.2",
        "MESH_ACCESS_LOG": "false",
    }

    def db(name: str) -> str:
        return f"sqlite+aiosqlite:///{tmp_path / name}.db"

    async with (
        serve(
            "catalog",
            db("catalog"),
            env={**registry, **pki.env("catalog"), "MESH_REGISTER": "true"},
        ) as catalog,
        serve(
            "inventory",
            db("inventory"),
            env={**registry, **pki.env("inventory"), "MESH_REGISTER": "true"},
        ) as inventory,
        serve("orders", db("orders"), env={**registry, **pki.env("orders")}) as orders,
    ):
        assert orders.settings.tls is not None and orders.server.tls is not None
        await seed(catalog.channel, inventory.channel)
        stub = orders_pb2_grpc.OrdersServiceStub(orders.channel)
        created = await stub.CreateOrder(
            orders_pb2.CreateOrderRequest(
                request_id="tls-1", lines=[orders_pb2.OrderLineInput(sku="mug", quantity=3)]
            ),
            timeout=10,
        )
        order = created.order
        assert order.total == Money(currency_code="EUR", amount_minor=300)
        async with aio.insecure_channel(catalog.address) as plain:
            with pytest.raises(aio.AioRpcError):
                await catalog_pb2_grpc.CatalogServiceStub(plain).GetProduct(
                    catalog_pb2.GetProductRequest(name="products/mug"), timeout=5
                )


def probe(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("MESH_TLS_")}
    return subprocess.run(
        [sys.executable, "-m", "mesh.probe", *args],
        capture_output=True,
        text=True,
        timeout=30,
        env={**clean, **env},
    )


async def test_probe_checks_health_over_tls(pki: Pki) -> None:
    async with who_server(pki.tls("catalog")) as server:
        ok, detail = await asyncio.to_thread(
            check_grpc, server.address, "", 2.0, pki.tls("catalog"), "catalog"
        )
        assert (ok, detail) == (True, "SERVING")
        # The container health check: its own certificate, 127.0.0.1, no name given.
        own = await asyncio.to_thread(probe, pki.env("catalog"), "--addr", server.address)
        assert own.returncode == 0, own.stderr
        other = await asyncio.to_thread(
            probe, pki.env("gateway"), "--addr", server.address, "--server-name", "catalog"
        )
        assert other.returncode == 0, other.stderr
        plain = await asyncio.to_thread(probe, {}, "--addr", server.address, "--timeout", "1")
        assert plain.returncode == 1
        broken = await asyncio.to_thread(
            probe, {"MESH_TLS_CERT": str(pki.files.cert("catalog"))}, "--addr", server.address
        )
        assert broken.returncode == 2 and "MESH_TLS_KEY" in broken.stderr


async def test_with_mutual_tls_only_the_gateway_may_speak_for_a_user(
    pki: Pki, tmp_path: Path
) -> None:
    """Principal metadata is believed from the gateway's certificate, refused from any
    other peer's; a peer speaking for itself (no principal) is the mesh, as before."""
    from mesh.principal import Principal, to_metadata

    env = {**pki.env("catalog"), "MESH_ACCESS_LOG": "false"}
    async with serve("catalog", f"sqlite+aiosqlite:///{tmp_path}/c.db", env=env) as catalog:
        request = catalog_pb2.ListProductsRequest()
        alice = to_metadata(Principal.user("alice", []))
        for caller, name in ((pki.tls("gateway"), "gateway"), (pki.tls("orders"), "orders")):
            async with secure(catalog.address, caller) as channel:
                stub = catalog_pb2_grpc.CatalogServiceStub(channel)
                assert (await stub.ListProducts(request, timeout=5)).products is not None
                call = stub.ListProducts(request, metadata=alice, timeout=5)
                if name == "gateway":
                    await call
                    continue
                with pytest.raises(aio.AioRpcError) as refused:
                    await call
                assert refused.value.code() == grpc.StatusCode.PERMISSION_DENIED
                assert "may not send it" in (refused.value.details() or "")


async def test_with_mutual_tls_a_forwarding_service_may_speak_for_its_customer(
    pki: Pki, tmp_path: Path
) -> None:
    """carts (forwards_principal in services.yaml) checks out as the customer: orders
    believes the principal from carts' certificate, and still not from inventory's."""
    from mesh.principal import Principal, to_metadata

    env = {
        **pki.env("orders"),
        "MESH_ACCESS_LOG": "false",
        "MESH_STATIC_ENDPOINTS": "catalog=127.0.0.1:1;inventory=127.0.0.1:1",
    }
    async with serve("orders", f"sqlite+aiosqlite:///{tmp_path}/o.db", env=env) as orders:
        request = orders_pb2.ListOrdersRequest(page_size=1)
        alice = to_metadata(Principal.user("alice", ["orders.read"]))
        for caller in ("carts", "gateway"):
            async with secure(orders.address, pki.tls(caller), f"orders.{NAMESPACE}") as channel:
                stub = orders_pb2_grpc.OrdersServiceStub(channel)
                await stub.ListOrders(request, metadata=alice, timeout=5)
        async with secure(orders.address, pki.tls("inventory"), f"orders.{NAMESPACE}") as channel:
            stub = orders_pb2_grpc.OrdersServiceStub(channel)
            with pytest.raises(aio.AioRpcError) as refused:
                await stub.ListOrders(request, metadata=alice, timeout=5)
            assert refused.value.code() == grpc.StatusCode.PERMISSION_DENIED
