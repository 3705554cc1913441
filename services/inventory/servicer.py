"""InventoryService: validation and mapping between messages and the store."""

from __future__ import annotations

from typing import Any

from grpc import aio

from mesh.timeutil import to_timestamp
from mesh.validation import ID_PATTERN, SKU_PATTERN, Violations, parse_name, validate_lines
from services.inventory.store import InventoryStore, ReservationRecord, StockRecord
from shop.inventory.v1 import inventory_pb2 as pb
from shop.inventory.v1 import inventory_pb2_grpc as pb_grpc

Context = aio.ServicerContext[Any, Any]

MAX_QUANTITY = 1_000_000_000
MAX_LINE_QUANTITY = 1_000_000
MAX_LINES = 100
# A reservation with its own TTL (ReserveStock.ttl): a second to a day.
MIN_TTL = 1.0
MAX_TTL = 86400.0
_STATES = {
    "ACTIVE": pb.Reservation.STATE_ACTIVE,
    "RELEASED": pb.Reservation.STATE_RELEASED,
    "COMMITTED": pb.Reservation.STATE_COMMITTED,
    "RETURNED": pb.Reservation.STATE_RETURNED,
}


def stock_message(record: StockRecord) -> pb.Stock:
    return pb.Stock(
        name=f"stocks/{record.sku}",
        sku=record.sku,
        on_hand=record.on_hand,
        reserved=record.reserved,
        available=record.on_hand - record.reserved,
        update_time=to_timestamp(record.update_time),
    )


def reservation_message(record: ReservationRecord) -> pb.Reservation:
    return pb.Reservation(
        name=f"reservations/{record.reservation_id}",
        reservation_id=record.reservation_id,
        lines=[pb.ReservationLine(sku=sku, quantity=qty) for sku, qty in record.lines],
        state=_STATES[record.state],
        create_time=to_timestamp(record.create_time),
        expire_time=to_timestamp(record.expire_time) if record.expire_time is not None else None,
    )


class InventoryServicer(pb_grpc.InventoryServiceServicer):
    def __init__(self, store: InventoryStore) -> None:
        self.store = store

    async def GetStock(self, request: pb.GetStockRequest, context: Context) -> pb.GetStockResponse:
        sku = parse_name(request.name, "stocks", SKU_PATTERN)
        return pb.GetStockResponse(stock=stock_message(await self.store.get_stock(sku)))

    async def SetStock(self, request: pb.SetStockRequest, context: Context) -> pb.SetStockResponse:
        sku = parse_name(request.name, "stocks", SKU_PATTERN)
        v = Violations()
        v.require(0 <= request.on_hand <= MAX_QUANTITY, "on_hand", f"must be in 0..{MAX_QUANTITY}")
        v.check()
        return pb.SetStockResponse(
            stock=stock_message(await self.store.set_stock(sku, request.on_hand))
        )

    async def AdjustStock(
        self, request: pb.AdjustStockRequest, context: Context
    ) -> pb.AdjustStockResponse:
        sku = parse_name(request.name, "stocks", SKU_PATTERN)
        v = Violations()
        v.require(
            request.delta != 0 and abs(request.delta) <= MAX_QUANTITY,
            "delta",
            f"must be non-zero and within ±{MAX_QUANTITY}",
        )
        v.check()
        record = await self.store.adjust_stock(sku, request.delta)
        return pb.AdjustStockResponse(stock=stock_message(record))

    async def ReserveStock(
        self, request: pb.ReserveStockRequest, context: Context
    ) -> pb.ReserveStockResponse:
        v = Violations()
        v.matches(ID_PATTERN, request.reservation_id, "reservation_id", "reservation_id")
        lines = validate_lines(
            request.lines, v, max_lines=MAX_LINES, max_quantity=MAX_LINE_QUANTITY
        )
        ttl = None
        if request.HasField("ttl"):
            ttl = request.ttl.ToMilliseconds() / 1000
            v.require(MIN_TTL <= ttl <= MAX_TTL, "ttl", f"{MIN_TTL:g}s to {MAX_TTL:g}s")
        v.check("invalid reservation")
        record = await self.store.reserve(request.reservation_id, lines, ttl)
        return pb.ReserveStockResponse(reservation=reservation_message(record))

    async def ReleaseReservation(
        self, request: pb.ReleaseReservationRequest, context: Context
    ) -> pb.ReleaseReservationResponse:
        reservation_id = parse_name(request.name, "reservations", ID_PATTERN)
        record = await self.store.release(reservation_id)
        return pb.ReleaseReservationResponse(reservation=reservation_message(record))

    async def CommitReservation(
        self, request: pb.CommitReservationRequest, context: Context
    ) -> pb.CommitReservationResponse:
        reservation_id = parse_name(request.name, "reservations", ID_PATTERN)
        record = await self.store.commit(reservation_id)
        return pb.CommitReservationResponse(reservation=reservation_message(record))

    async def ReturnReservation(
        self, request: pb.ReturnReservationRequest, context: Context
    ) -> pb.ReturnReservationResponse:
        reservation_id = parse_name(request.name, "reservations", ID_PATTERN)
        record = await self.store.return_stock(reservation_id)
        return pb.ReturnReservationResponse(reservation=reservation_message(record))
