"""CartsService: validation and mapping between messages and the store."""

from __future__ import annotations

from typing import Any

from grpc import aio

from mesh.timeutil import to_timestamp
from mesh.validation import SKU_PATTERN as ID_PATTERN
from mesh.validation import Violations, parse_name
from services.carts.store import CartRecord, CartsStore
from shop.carts.v1 import carts_pb2 as pb
from shop.carts.v1 import carts_pb2_grpc as pb_grpc

Context = aio.ServicerContext[Any, Any]
COLLECTION = "carts"
MAX_DISPLAY_NAME = 200


def cart_message(record: CartRecord) -> pb.Cart:
    return pb.Cart(
        name=f"{COLLECTION}/{record.id}",
        display_name=record.display_name,
        create_time=to_timestamp(record.create_time),
    )


class CartsServicer(pb_grpc.CartsServiceServicer):
    def __init__(self, store: CartsStore) -> None:
        self.store = store

    async def CreateCart(
        self, request: pb.CreateCartRequest, context: Context
    ) -> pb.CreateCartResponse:
        v = Violations()
        v.matches(ID_PATTERN, request.cart_id, "cart_id", "cart_id")
        display_name = request.cart.display_name
        v.require(
            len(display_name.strip()) > 0 and len(display_name) <= MAX_DISPLAY_NAME,
            "cart.display_name",
            f"must be 1-{MAX_DISPLAY_NAME} characters, not blank",
        )
        v.check("invalid cart")
        record = await self.store.create(CartRecord(request.cart_id, display_name))
        return pb.CreateCartResponse(cart=cart_message(record))

    async def GetCart(
        self, request: pb.GetCartRequest, context: Context
    ) -> pb.GetCartResponse:
        key = parse_name(request.name, COLLECTION, ID_PATTERN)
        return pb.GetCartResponse(cart=cart_message(await self.store.get(key)))

    async def DeleteCart(
        self, request: pb.DeleteCartRequest, context: Context
    ) -> pb.DeleteCartResponse:
        key = parse_name(request.name, COLLECTION, ID_PATTERN)
        await self.store.delete(key)
        return pb.DeleteCartResponse()
