"""CartsService over real gRPC on its store (redis). Written by scripts/new-service."""

from __future__ import annotations

from collections.abc import AsyncIterator

import grpc
import pytest

from services.carts import app
from shop.carts.v1 import carts_pb2 as pb
from shop.carts.v1 import carts_pb2_grpc as pb_grpc
from tests.support.assertions import invalid, reason
from tests.support.service import serve_app, store_env


@pytest.fixture(params=['redis', 'embedded'])
async def stub(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[pb_grpc.CartsServiceAsyncStub]:
    async with (
        store_env("carts", request.param, tmp_path_factory.mktemp("carts")) as env,
        serve_app("carts", app, env) as running,
    ):
        yield pb_grpc.CartsServiceStub(running.channel)  # type: ignore[misc]


def create(key: str = "first") -> pb.CreateCartRequest:
    return pb.CreateCartRequest(cart_id=key, cart=pb.Cart(display_name="First"))


async def test_create_get_delete(stub: pb_grpc.CartsServiceAsyncStub) -> None:
    created = (await stub.CreateCart(create())).cart
    assert created.name == "carts/first" and created.create_time.seconds > 0
    got = (await stub.GetCart(pb.GetCartRequest(name=created.name))).cart
    assert got == created
    await stub.DeleteCart(pb.DeleteCartRequest(name=created.name))
    gone = stub.GetCart(pb.GetCartRequest(name=created.name))
    assert await reason(gone, grpc.StatusCode.NOT_FOUND) == "CART_NOT_FOUND"


async def test_create_twice_is_already_exists(stub: pb_grpc.CartsServiceAsyncStub) -> None:
    await stub.CreateCart(create())
    assert await reason(stub.CreateCart(create()), grpc.StatusCode.ALREADY_EXISTS) == "CART_EXISTS"


async def test_bad_input_names_every_field(stub: pb_grpc.CartsServiceAsyncStub) -> None:
    await invalid(stub.CreateCart(pb.CreateCartRequest()), "cart_id", "cart.display_name")
    await invalid(stub.GetCart(pb.GetCartRequest(name="elsewhere/x")), "name")
