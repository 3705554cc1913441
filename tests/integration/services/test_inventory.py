"""InventoryService over real gRPC, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio

import grpc
import pytest

from shop.inventory.v1 import inventory_pb2 as pb
from shop.inventory.v1 import inventory_pb2_grpc
from tests.support.assertions import invalid, reason
from tests.support.mesh import Shop, serve

FAILED = grpc.StatusCode.FAILED_PRECONDITION
NOT_FOUND = grpc.StatusCode.NOT_FOUND


def lines(*pairs: tuple[str, int]) -> list[pb.ReservationLine]:
    return [pb.ReservationLine(sku=s, quantity=q) for s, q in pairs]


async def stock(mesh: Shop, sku: str) -> pb.Stock:
    return (await mesh.inventory_stub.GetStock(pb.GetStockRequest(name=f"stocks/{sku}"))).stock


async def test_set_get_adjust(mesh: Shop) -> None:
    stub = mesh.inventory_stub
    created = (await stub.SetStock(pb.SetStockRequest(name="stocks/mug", on_hand=10))).stock
    assert (created.name, created.on_hand, created.reserved, created.available) == (
        "stocks/mug",
        10,
        0,
        10,
    )
    adjusted = (await stub.AdjustStock(pb.AdjustStockRequest(name="stocks/mug", delta=-3))).stock
    assert adjusted.on_hand == 7
    assert (await stock(mesh, "mug")).on_hand == 7
    reset = (await stub.SetStock(pb.SetStockRequest(name="stocks/mug", on_hand=2))).stock
    assert reset.available == 2


async def test_stock_errors(mesh: Shop) -> None:
    stub = mesh.inventory_stub
    assert (
        await reason(stub.GetStock(pb.GetStockRequest(name="stocks/none")), NOT_FOUND)
        == "STOCK_NOT_FOUND"
    )
    await invalid(stub.GetStock(pb.GetStockRequest(name="")), "name")
    await invalid(stub.SetStock(pb.SetStockRequest(name="stocks/mug", on_hand=-1)), "on_hand")
    await invalid(stub.SetStock(pb.SetStockRequest(name="stocks/mug", on_hand=10**12)), "on_hand")
    await invalid(stub.AdjustStock(pb.AdjustStockRequest(name="stocks/mug", delta=0)), "delta")
    await reason(stub.AdjustStock(pb.AdjustStockRequest(name="stocks/none", delta=1)), NOT_FOUND)
    await stub.SetStock(pb.SetStockRequest(name="stocks/mug", on_hand=5))
    await stub.ReserveStock(pb.ReserveStockRequest(reservation_id="r1", lines=lines(("mug", 4))))
    assert (
        await reason(stub.AdjustStock(pb.AdjustStockRequest(name="stocks/mug", delta=-2)), FAILED)
        == "BELOW_RESERVED"
    )
    assert (
        await reason(stub.SetStock(pb.SetStockRequest(name="stocks/mug", on_hand=3)), FAILED)
        == "BELOW_RESERVED"
    )
    after = await stock(mesh, "mug")
    assert (after.on_hand, after.reserved) == (5, 4)


async def test_reserve_is_all_or_nothing(mesh: Shop) -> None:
    stub = mesh.inventory_stub
    await stub.SetStock(pb.SetStockRequest(name="stocks/a", on_hand=5))
    await stub.SetStock(pb.SetStockRequest(name="stocks/b", on_hand=1))
    call = stub.ReserveStock(
        pb.ReserveStockRequest(reservation_id="r1", lines=lines(("a", 2), ("b", 2)))
    )
    assert await reason(call, FAILED) == "INSUFFICIENT_STOCK"
    assert (await stock(mesh, "a")).reserved == 0
    unknown = stub.ReserveStock(
        pb.ReserveStockRequest(reservation_id="r2", lines=lines(("a", 1), ("zzz", 1)))
    )
    assert await reason(unknown, NOT_FOUND) == "STOCK_NOT_FOUND"
    assert (await stock(mesh, "a")).reserved == 0
    # The failed ids were not used up.
    done = await stub.ReserveStock(
        pb.ReserveStockRequest(reservation_id="r1", lines=lines(("a", 2), ("b", 1)))
    )
    assert done.reservation.state == pb.Reservation.STATE_ACTIVE
    assert [(x.sku, x.quantity) for x in done.reservation.lines] == [("a", 2), ("b", 1)]
    assert (await stock(mesh, "b")).available == 0


async def test_reserve_is_idempotent_by_id(mesh: Shop) -> None:
    stub = mesh.inventory_stub
    await stub.SetStock(pb.SetStockRequest(name="stocks/a", on_hand=5))
    request = pb.ReserveStockRequest(reservation_id="same", lines=lines(("a", 2)))
    first = await stub.ReserveStock(request)
    second = await stub.ReserveStock(request)
    assert first == second
    assert (await stock(mesh, "a")).reserved == 2
    other = pb.ReserveStockRequest(reservation_id="same", lines=lines(("a", 3)))
    assert (
        await reason(stub.ReserveStock(other), grpc.StatusCode.ALREADY_EXISTS)
        == "RESERVATION_ID_REUSED"
    )


async def test_reserve_validation(mesh: Shop) -> None:
    stub = mesh.inventory_stub
    await invalid(
        stub.ReserveStock(pb.ReserveStockRequest(reservation_id="", lines=lines(("a", 1)))),
        "reservation_id",
    )
    await invalid(stub.ReserveStock(pb.ReserveStockRequest(reservation_id="r")), "lines")
    await invalid(
        stub.ReserveStock(
            pb.ReserveStockRequest(reservation_id="r", lines=lines(("a", 0), ("b", -5), ("", 1)))
        ),
        "lines[0].quantity",
        "lines[1].quantity",
        "lines[2].sku",
    )
    await invalid(
        stub.ReserveStock(
            pb.ReserveStockRequest(reservation_id="r", lines=lines(("a", 1), ("a", 1)))
        ),
        "lines[1].sku",
    )
    await invalid(
        stub.ReserveStock(
            pb.ReserveStockRequest(
                reservation_id="r", lines=lines(*[(f"s{i}", 1) for i in range(101)])
            )
        ),
        "lines",
    )
    await invalid(
        stub.ReserveStock(pb.ReserveStockRequest(reservation_id="x" * 129, lines=lines(("a", 1)))),
        "reservation_id",
    )


async def test_release_and_commit(mesh: Shop) -> None:
    stub = mesh.inventory_stub
    await stub.SetStock(pb.SetStockRequest(name="stocks/a", on_hand=10))
    await stub.ReserveStock(pb.ReserveStockRequest(reservation_id="r1", lines=lines(("a", 3))))
    await stub.ReserveStock(pb.ReserveStockRequest(reservation_id="r2", lines=lines(("a", 4))))
    released = await stub.ReleaseReservation(pb.ReleaseReservationRequest(name="reservations/r1"))
    assert released.reservation.state == pb.Reservation.STATE_RELEASED
    again = await stub.ReleaseReservation(pb.ReleaseReservationRequest(name="reservations/r1"))
    assert again.reservation.state == pb.Reservation.STATE_RELEASED
    committed = await stub.CommitReservation(pb.CommitReservationRequest(name="reservations/r2"))
    assert committed.reservation.state == pb.Reservation.STATE_COMMITTED
    await stub.CommitReservation(pb.CommitReservationRequest(name="reservations/r2"))
    after = await stock(mesh, "a")
    assert (after.on_hand, after.reserved) == (6, 0)
    assert (
        await reason(
            stub.CommitReservation(pb.CommitReservationRequest(name="reservations/r1")), FAILED
        )
        == "RESERVATION_RELEASED"
    )
    assert (
        await reason(
            stub.ReleaseReservation(pb.ReleaseReservationRequest(name="reservations/r2")), FAILED
        )
        == "RESERVATION_COMMITTED"
    )
    assert (
        await reason(
            stub.ReleaseReservation(pb.ReleaseReservationRequest(name="reservations/none")),
            NOT_FOUND,
        )
        == "RESERVATION_NOT_FOUND"
    )
    await invalid(stub.CommitReservation(pb.CommitReservationRequest(name="orders/r2")), "name")


async def test_concurrent_reservations_never_oversell(mesh: Shop) -> None:
    """Many clients race for the same few units; exactly the stock on hand is reserved."""
    stub = mesh.inventory_stub
    await stub.SetStock(pb.SetStockRequest(name="stocks/hot", on_hand=25))
    await stub.SetStock(pb.SetStockRequest(name="stocks/cold", on_hand=1000))

    async def attempt(i: int) -> bool:
        request = pb.ReserveStockRequest(
            reservation_id=f"race-{i}", lines=lines(("cold", 1), ("hot", 1 + i % 2))
        )
        try:
            await stub.ReserveStock(request)
        except grpc.aio.AioRpcError as exc:
            assert exc.code() == FAILED, exc.details()
            return False
        return True

    results = await asyncio.gather(*(attempt(i) for i in range(60)))
    hot, cold = await stock(mesh, "hot"), await stock(mesh, "cold")
    won = [i for i, ok in enumerate(results) if ok]
    assert hot.reserved == sum(1 + i % 2 for i in won)
    assert hot.reserved <= 25 and hot.available >= 0
    assert 25 - hot.reserved < 2  # nobody failed while enough was left
    assert cold.reserved == len(won)


@pytest.mark.postgres
async def test_two_servers_racing_on_one_postgres_never_oversell(pg_url: str | None) -> None:
    """The same race from two independent servers (two connection pools) on one database."""
    if pg_url is None:
        pytest.skip("PostgreSQL is not reachable (required when CI=true)")
    async with (
        serve("inventory", pg_url) as first,
        serve("inventory", pg_url, fresh=False) as second,
    ):
        stubs = [
            inventory_pb2_grpc.InventoryServiceStub(first.channel),
            inventory_pb2_grpc.InventoryServiceStub(second.channel),
        ]
        await stubs[0].SetStock(pb.SetStockRequest(name="stocks/hot", on_hand=30))

        async def attempt(i: int) -> int:
            try:
                await stubs[i % 2].ReserveStock(
                    pb.ReserveStockRequest(reservation_id=f"x-{i}", lines=lines(("hot", 1)))
                )
            except grpc.aio.AioRpcError as exc:
                assert exc.code() == FAILED, exc.details()
                return 0
            return 1

        won = sum(await asyncio.gather(*(attempt(i) for i in range(80))))
        final = (await stubs[1].GetStock(pb.GetStockRequest(name="stocks/hot"))).stock
    assert won == 30
    assert (final.reserved, final.available) == (30, 0)
