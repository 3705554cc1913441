"""Who may call what, checked by the services themselves, and orders that belong
to their customer. Calls carry principal metadata as the gateway writes it."""

from __future__ import annotations

import grpc
import pytest

from mesh.principal import ANONYMOUS, Principal, to_metadata
from shop.inventory.v1 import inventory_pb2 as ipb
from shop.orders.v1 import orders_pb2 as pb
from tests.integration.services.test_orders import order_request, seed
from tests.support.assertions import details, reason, rpc_error
from tests.support.mesh import Shop

CUSTOMER = ("orders.read", "orders.write")
ALICE = to_metadata(Principal.user("alice", CUSTOMER))
BOB = to_metadata(Principal.user("bob", CUSTOMER))
NOT_FOUND = grpc.StatusCode.NOT_FOUND
ADMIN = to_metadata(Principal.user("root", (*CUSTOMER, "orders.admin")))


async def test_an_order_belongs_to_its_customer(mesh: Shop) -> None:
    await seed(mesh, "mug", 1200, 10)
    stub = mesh.orders_stub
    mine = (await stub.CreateOrder(order_request("r1", ("mug", 1)), metadata=ALICE)).order
    assert (await stub.GetOrder(pb.GetOrderRequest(name=mine.name), metadata=ALICE)).order == mine

    # Someone else's order does not exist, whatever they try (no existence leak).
    for call in (
        stub.GetOrder(pb.GetOrderRequest(name=mine.name), metadata=BOB),
        stub.CancelOrder(pb.CancelOrderRequest(name=mine.name), metadata=BOB),
    ):
        error = await rpc_error(call, NOT_FOUND)
        assert details(error)[0].reason == "ORDER_NOT_FOUND"  # type: ignore[union-attr]
    watch = stub.WatchOrder(pb.WatchOrderRequest(name=mine.name), metadata=BOB)
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        async for _ in watch:
            pass
    assert caught.value.code() == grpc.StatusCode.NOT_FOUND
    unknown = await rpc_error(
        stub.GetOrder(pb.GetOrderRequest(name="orders/" + "0" * 32), metadata=BOB), NOT_FOUND
    )
    assert (unknown.details() or "").replace("0" * 32, "X") == (error.details() or "").replace(
        mine.name.removeprefix("orders/"), "X"
    )

    # Still confirmed: Bob's cancel did nothing.
    again = (await stub.GetOrder(pb.GetOrderRequest(name=mine.name), metadata=ALICE)).order
    assert again.status == pb.Order.STATUS_CONFIRMED


async def test_lists_hold_only_the_callers_orders_admins_and_the_mesh_see_all(mesh: Shop) -> None:
    await seed(mesh, "mug", 1200, 10)
    stub = mesh.orders_stub
    a = (await stub.CreateOrder(order_request("a", ("mug", 1)), metadata=ALICE)).order
    b = (await stub.CreateOrder(order_request("b", ("mug", 1)), metadata=BOB)).order
    request = pb.ListOrdersRequest(page_size=10)
    assert [o.name for o in (await stub.ListOrders(request, metadata=ALICE)).orders] == [a.name]
    assert [o.name for o in (await stub.ListOrders(request, metadata=BOB)).orders] == [b.name]
    everyone = {b.name, a.name}
    assert {o.name for o in (await stub.ListOrders(request, metadata=ADMIN)).orders} == everyone
    assert {o.name for o in (await stub.ListOrders(request)).orders} == everyone  # a peer
    # An admin may read and cancel anyone's order.
    cancelled = await stub.CancelOrder(pb.CancelOrderRequest(name=a.name), metadata=ADMIN)
    assert cancelled.order.status == pb.Order.STATUS_CANCELLED


async def test_a_page_token_pages_only_the_list_it_came_from(mesh: Shop) -> None:
    await seed(mesh, "mug", 1200, 10)
    stub = mesh.orders_stub
    for n in range(3):
        await stub.CreateOrder(order_request(f"a{n}", ("mug", 1)), metadata=ALICE)
    first = await stub.ListOrders(pb.ListOrdersRequest(page_size=1), metadata=ALICE)
    assert first.next_page_token
    await rpc_error(
        stub.ListOrders(
            pb.ListOrdersRequest(page_size=1, page_token=first.next_page_token), metadata=BOB
        ),
        grpc.StatusCode.INVALID_ARGUMENT,
    )


async def test_request_ids_are_per_customer(mesh: Shop) -> None:
    await seed(mesh, "mug", 1200, 10)
    stub = mesh.orders_stub
    alice = (await stub.CreateOrder(order_request("same", ("mug", 1)), metadata=ALICE)).order
    bob = (await stub.CreateOrder(order_request("same", ("mug", 2)), metadata=BOB)).order
    assert alice.name != bob.name  # Bob's key neither finds nor blocks Alice's order
    retry = (await stub.CreateOrder(order_request("same", ("mug", 1)), metadata=ALICE)).order
    assert retry == alice


@pytest.mark.parametrize(
    ("metadata", "code", "why"),
    [
        (to_metadata(ANONYMOUS), grpc.StatusCode.UNAUTHENTICATED, "TOKEN_MISSING"),
        (
            to_metadata(Principal.user("eve", ["orders.read"])),
            grpc.StatusCode.PERMISSION_DENIED,
            "INSUFFICIENT_SCOPE",
        ),
        ((("x-mesh-principal", "root"),), grpc.StatusCode.UNAUTHENTICATED, "PRINCIPAL_MALFORMED"),
        (
            (("x-mesh-scopes", "orders.admin"),),
            grpc.StatusCode.UNAUTHENTICATED,
            "PRINCIPAL_MALFORMED",
        ),
        (
            (("x-mesh-principal", "user:%ff%fe"),),
            grpc.StatusCode.UNAUTHENTICATED,
            "PRINCIPAL_MALFORMED",
        ),
        (
            (("x-mesh-principal", "user:a"), ("x-mesh-principal", "user:b")),
            grpc.StatusCode.UNAUTHENTICATED,
            "PRINCIPAL_MALFORMED",
        ),
    ],
    ids=[
        "anonymous",
        "missing scope",
        "no user prefix",
        "scopes alone",
        "not utf-8",
        "two principals",
    ],
)
async def test_services_check_the_contract_again(
    mesh: Shop, metadata: tuple[tuple[str, str], ...], code: grpc.StatusCode, why: str
) -> None:
    call = mesh.orders_stub.CreateOrder(order_request("x", ("mug", 1)), metadata=metadata)
    assert await reason(call, code) == why


async def test_internal_methods_refuse_callers_from_outside(mesh: Shop) -> None:
    await seed(mesh, "mug", 1200, 10)
    request = ipb.ReserveStockRequest(
        reservation_id="r-outside", lines=[ipb.ReservationLine(sku="mug", quantity=1)]
    )
    outside = mesh.inventory_stub.ReserveStock(request, metadata=ADMIN)
    assert await reason(outside, grpc.StatusCode.PERMISSION_DENIED) == "INTERNAL_METHOD"
    # A peer (no principal) is the mesh itself.
    reserved = await mesh.inventory_stub.ReserveStock(request)
    assert reserved.reservation.name == "reservations/r-outside"


async def test_public_reads_take_anonymous_callers(mesh: Shop) -> None:
    await seed(mesh, "mug", 1200, 10)
    stock = await mesh.inventory_stub.GetStock(
        ipb.GetStockRequest(name="stocks/mug"), metadata=to_metadata(ANONYMOUS)
    )
    assert stock.stock.on_hand == 10
    await rpc_error(
        mesh.inventory_stub.SetStock(
            ipb.SetStockRequest(name="stocks/mug", on_hand=1), metadata=to_metadata(ANONYMOUS)
        ),
        grpc.StatusCode.UNAUTHENTICATED,
    )
