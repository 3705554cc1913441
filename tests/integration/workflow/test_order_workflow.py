"""The order fulfilment workflow, driven through the real interpreter.

Catalog, inventory and orders run in this process on loopback and register in a
local registry file; ``workflows/order_fulfilment.asl.json`` runs under
aws-local-stepfunctions (``workflows/local/server.mjs``) and its functions
(``functions/``) find orders and inventory through that registry, as on the
local mesh. Timings are short: a payment deadline of a second or two, retries
20 ms apart (the definition's backoff is overridden, not its attempt counts).
Faults are the functions' own drill setting (``MESH_WORKFLOW_FAULTS``), not mocks.
"""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

import grpc
import pytest
from botocore.exceptions import ClientError

from mesh.db import Database
from mesh.localworkflow import INTERPRETER, LocalWorkflow, start_local_workflow
from mesh.principal import Principal, to_metadata
from mesh.service import build_server, migrations_dir, wire_discovery
from services.orders import app as orders_app
from services.orders.payments import SandboxPayments
from shop.catalog.v1 import catalog_pb2 as cpb
from shop.catalog.v1 import catalog_pb2_grpc
from shop.inventory.v1 import inventory_pb2 as ipb
from shop.inventory.v1 import inventory_pb2_grpc
from shop.orders.v1 import orders_pb2 as pb
from shop.orders.v1 import orders_pb2_grpc
from shop.type.v1.money_pb2 import Money
from tests.integration.workflow import sfn
from tests.support.assertions import details, invalid, reason, rpc_error
from tests.support.mesh import serve, settings_for
from tests.support.waiting import until, until_state

pytestmark = pytest.mark.skipif(
    not INTERPRETER.is_dir() and os.environ.get("CI") != "true",
    reason="the workflow interpreter is not installed (scripts/test installs it)",
)

CUSTOMER = ("orders.read", "orders.write")
ALICE = to_metadata(Principal.user("alice", CUSTOMER))
BOB = to_metadata(Principal.user("bob", CUSTOMER))
GOOD_CARD = "4242424242424242"
FAILED_PRECONDITION = grpc.StatusCode.FAILED_PRECONDITION


def card(number: str = GOOD_CARD, **fields: Any) -> pb.PaymentCard:
    values: dict[str, Any] = {"number": number, "exp_month": 12, "exp_year": 2099, "cvc": "123"}
    values.update(fields)
    return pb.PaymentCard(**values)


@dataclass
class Flow:
    orders: orders_pb2_grpc.OrdersServiceAsyncStub
    inventory: inventory_pb2_grpc.InventoryServiceAsyncStub
    workflow: LocalWorkflow
    payments: SandboxPayments
    data_dir: Path

    async def order(self, request_id: str, quantity: int = 2) -> pb.Order:
        request = pb.CreateOrderRequest(
            request_id=request_id, lines=[pb.OrderLineInput(sku="mug", quantity=quantity)]
        )
        return (await self.orders.CreateOrder(request, metadata=ALICE)).order

    async def pay(self, name: str, number: str = GOOD_CARD) -> pb.Order:
        request = pb.ConfirmPaymentRequest(name=name, card=card(number))
        return (await self.orders.ConfirmPayment(request, metadata=ALICE)).order

    async def stock(self) -> ipb.Stock:
        return (await self.inventory.GetStock(ipb.GetStockRequest(name="stocks/mug"))).stock

    async def status(self, name: str) -> int:
        reply = await self.orders.GetOrder(pb.GetOrderRequest(name=name), metadata=ALICE)
        return reply.order.status

    @cached_property
    def sfn(self) -> Any:
        return sfn.client(self.workflow.url)

    async def execution(self, order_name: str) -> dict[str, Any]:
        # In a thread: the orders server under test runs on this event loop, and the
        # workflow's steps call back into it while boto3 waits for the interpreter.
        return await asyncio.to_thread(self._execution, order_name)

    def _execution(self, order_name: str) -> dict[str, Any]:
        arn = (
            "arn:aws:states:us-east-1:000000000000:execution:order_fulfilment:"
            + order_name.removeprefix("orders/")
        )
        described: dict[str, Any] = dict(self.sfn.describe_execution(executionArn=arn))
        described["history"] = self.sfn.get_execution_history(executionArn=arn)["events"]
        return described


async def watch(flow: Flow, name: str, into: list[int]) -> None:
    stream = flow.orders.WatchOrder(pb.WatchOrderRequest(name=name), metadata=ALICE)
    async for event in stream:
        into.append(event.order.status)


@asynccontextmanager
async def workflow_shop(
    tmp: Path, *, deadline: float = 30.0, faults: str = ""
) -> AsyncIterator[Flow]:
    registry = {
        "MESH_REGISTRY": "local",
        "MESH_REGISTRY_FILE": str(tmp / "registry.json"),
        "MESH_DATA_DIR": str(tmp),
    }
    registered = {**registry, "MESH_REGISTER": "true"}
    workflow = await start_local_workflow(
        tmp,
        {**registry, "MESH_WORKFLOW_FAULTS": faults, "MESH_CALL_TIMEOUT_SECONDS": "2"},
        retry_interval_ms=20,
    )
    payments = SandboxPayments()
    try:
        async with (
            serve("catalog", f"sqlite+aiosqlite:///{tmp / 'catalog.db'}", env=registered) as cat,
            serve(
                "inventory", f"sqlite+aiosqlite:///{tmp / 'inventory.db'}", env=registered
            ) as inv,
        ):
            settings = settings_for(
                "orders",
                f"sqlite+aiosqlite:///{tmp / 'orders.db'}",
                **registered,
                MESH_WORKFLOW="local",
                MESH_WORKFLOW_ENDPOINT=workflow.url,
                MESH_PAYMENT_DEADLINE_SECONDS=str(deadline),
                MESH_ORDER_SETTLE_SECONDS="0.5",
            )
            database = Database(
                settings.database_url, "orders", migrations_dir(orders_app.__file__)
            )
            unit = wire_discovery(
                settings,
                lambda clients: orders_app.build_unit(
                    settings, database, clients, payments=payments
                ),
            )
            server = build_server(settings, unit)
            await server.start()
            channel = grpc.aio.insecure_channel(server.address)
            try:
                catalog: catalog_pb2_grpc.CatalogServiceAsyncStub = (
                    catalog_pb2_grpc.CatalogServiceStub(cat.channel)  # type: ignore[assignment]
                )
                inventory: inventory_pb2_grpc.InventoryServiceAsyncStub = (
                    inventory_pb2_grpc.InventoryServiceStub(inv.channel)  # type: ignore[assignment]
                )
                product = cpb.Product(
                    sku="mug",
                    display_name="Mug",
                    price=Money(currency_code="EUR", amount_minor=1200),
                    active=True,
                )
                await catalog.CreateProduct(cpb.CreateProductRequest(product=product))
                await inventory.SetStock(ipb.SetStockRequest(name="stocks/mug", on_hand=10))
                yield Flow(
                    orders_pb2_grpc.OrdersServiceStub(channel),  # type: ignore[arg-type]
                    inventory,
                    workflow,
                    payments,
                    tmp,
                )
            finally:
                await channel.close(None)
                await server.stop(1.0)
    finally:
        await workflow.stop()


async def test_paid_in_time_goes_paid_then_fulfilled(tmp_path: Path) -> None:
    async with workflow_shop(tmp_path) as flow:
        order = await flow.order("happy")
        assert order.status == pb.Order.STATUS_PENDING_PAYMENT
        assert not order.paid and order.HasField("payment_deadline")
        assert (await flow.stock()).reserved == 2
        seen: list[int] = []
        watcher = asyncio.create_task(watch(flow, order.name, seen))
        await until_state(lambda: bool(seen), what="the first watch event")
        paid = await flow.pay(order.name)
        assert paid.paid
        # A repeated confirmation charges nothing and answers with the order.
        again = await flow.pay(order.name)
        assert again.name == order.name and again.paid
        assert len(flow.payments.charges) == 1
        await asyncio.wait_for(watcher, 15)
        statuses = [s for i, s in enumerate(seen) if i == 0 or seen[i - 1] != s]
        assert statuses == [
            pb.Order.STATUS_PENDING_PAYMENT,
            pb.Order.STATUS_PAID,
            pb.Order.STATUS_FULFILLED,
        ]
        stock = await flow.stock()
        assert (stock.on_hand, stock.reserved) == (8, 0)
        # The order's last move is the execution's last step: it ends just after.
        ended = await until(lambda: _ended(flow, order.name), what="the execution to end")
        assert ended["status"] == "SUCCEEDED"
        # Paying a fulfilled order is the same idempotent answer.
        assert (await flow.pay(order.name)).status == pb.Order.STATUS_FULFILLED


async def test_not_paid_in_time_expires_and_the_stock_comes_back(tmp_path: Path) -> None:
    async with workflow_shop(tmp_path, deadline=1.5) as flow:
        order = await flow.order("late")
        assert (await flow.stock()).available == 8
        seen: list[int] = []
        await asyncio.wait_for(watch(flow, order.name, seen), 15)
        assert seen[-1] == pb.Order.STATUS_EXPIRED
        stock = await flow.stock()
        assert (stock.on_hand, stock.reserved, stock.available) == (10, 0, 10)
        error = await reason(
            flow.orders.ConfirmPayment(
                pb.ConfirmPaymentRequest(name=order.name, card=card()), metadata=ALICE
            ),
            FAILED_PRECONDITION,
        )
        assert error == "ORDER_EXPIRED"
        assert flow.payments.charges == {}
        # The order's last move is the execution's last step: it ends just after.
        ended = await until(lambda: _ended(flow, order.name), what="the execution to end")
        assert ended["status"] == "SUCCEEDED"


async def test_cancel_while_pending_stops_the_workflow_and_releases(tmp_path: Path) -> None:
    async with workflow_shop(tmp_path) as flow:
        order = await flow.order("changed-my-mind")
        # Wait until the workflow waits for payment (its token is with orders).
        await until(
            lambda: _history_has(flow, order.name, "AwaitPayment"), what="the payment wait"
        )
        cancelled = (
            await flow.orders.CancelOrder(pb.CancelOrderRequest(name=order.name), metadata=ALICE)
        ).order
        assert cancelled.status == pb.Order.STATUS_CANCELLED
        assert (await flow.stock()).available == 10
        execution = await until(lambda: _ended(flow, order.name), what="the execution to end")
        entered = [
            e["stateEnteredEventDetails"]["name"]
            for e in execution["history"]
            if "stateEnteredEventDetails" in e
        ]
        # With the wait's token at orders, the workflow is failed (OrderCancelled) and
        # compensates; cancelled before the token arrived, it is stopped.
        if execution["status"] == "SUCCEEDED":
            assert entered[-3:] == ["ReturnStockCancelled", "MarkCancelled", "Cancelled"]
        else:
            assert (execution["status"], entered) == ("ABORTED", ["AwaitPayment"])
        assert (await flow.stock()).available == 10
        assert await flow.status(order.name) == pb.Order.STATUS_CANCELLED
        reason_ = await reason(
            flow.orders.ConfirmPayment(
                pb.ConfirmPaymentRequest(name=order.name, card=card()), metadata=ALICE
            ),
            FAILED_PRECONDITION,
        )
        assert reason_ == "ORDER_CLOSED"


async def _history_has(flow: Flow, name: str, state: str) -> bool:
    try:
        history = (await flow.execution(name))["history"]
    except ClientError:  # not started yet
        return False
    return any(e.get("stateEnteredEventDetails", {}).get("name") == state for e in history)


async def test_a_step_failing_twice_is_retried_and_the_order_fulfilled(tmp_path: Path) -> None:
    async with workflow_shop(tmp_path, faults="commit_stock=2") as flow:
        order = await flow.order("flaky")
        await flow.pay(order.name)
        await until(lambda: _is(flow, order.name, pb.Order.STATUS_FULFILLED), what="FULFILLED")
        failures = [
            e["taskFailedEventDetails"]["error"]
            for e in (await flow.execution(order.name))["history"]
            if e["type"] == "TaskFailed"
        ]
        assert failures == ["ServiceUnavailable", "ServiceUnavailable"]
        stock = await flow.stock()
        assert (stock.on_hand, stock.reserved) == (8, 0)


async def _is(flow: Flow, name: str, status: int) -> bool:
    return await flow.status(name) == status


async def test_a_step_failing_for_good_is_compensated(tmp_path: Path) -> None:
    async with workflow_shop(tmp_path, faults="commit_stock=9") as flow:
        order = await flow.order("doomed")
        await flow.pay(order.name)
        await until(lambda: _is(flow, order.name, pb.Order.STATUS_FAILED), what="FAILED")
        stock = await flow.stock()
        assert (stock.on_hand, stock.reserved, stock.available) == (10, 0, 10)
        # The refund follows the move to FAILED (the status is published first).
        await until_state(lambda: len(flow.payments.refunds) == 1, what="the refund")
        execution = await until(lambda: _ended(flow, order.name), what="the execution to end")
        assert execution["status"] == "FAILED"
        assert execution["error"] == "FulfilmentFailed"


async def _ended(flow: Flow, name: str) -> dict[str, Any]:
    execution = await flow.execution(name)
    return execution if execution["status"] != "RUNNING" else {}


async def test_payment_input_is_checked_and_the_card_never_logged(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level("DEBUG")
    async with workflow_shop(tmp_path) as flow:
        order = await flow.order("checks")
        confirm = flow.orders.ConfirmPayment
        await invalid(confirm(pb.ConfirmPaymentRequest(name=order.name), metadata=ALICE), "card")
        for bad, field in [
            (card("4242"), "card.number"),
            (card("4242424242424241"), "card.number"),  # wrong check digit
            (card("9" * 200), "card.number"),
            (card("4242x42424242424"), "card.number"),
            (card(exp_month=13), "card.exp_month"),
            (card(exp_year=2001), "card.exp_year"),
            (card(cvc="12"), "card.cvc"),
            (card(cvc="1234567"), "card.cvc"),
        ]:
            error = await rpc_error(
                confirm(pb.ConfirmPaymentRequest(name=order.name, card=bad), metadata=ALICE),
                grpc.StatusCode.INVALID_ARGUMENT,
            )
            assert field in details(error)[1]
            assert bad.number not in str(error.details()) + str(error.trailing_metadata())
        await invalid(
            confirm(pb.ConfirmPaymentRequest(name="orders/../x", card=card()), metadata=ALICE),
            "name",
        )
        # Someone else's order is not found, exactly like a missing one.
        await rpc_error(
            confirm(pb.ConfirmPaymentRequest(name=order.name, card=card()), metadata=BOB),
            grpc.StatusCode.NOT_FOUND,
        )
        declined = await reason(
            confirm(
                pb.ConfirmPaymentRequest(name=order.name, card=card("4000000000000002")),
                metadata=ALICE,
            ),
            FAILED_PRECONDITION,
        )
        assert declined == "PAYMENT_DECLINED"
        # The transient test card fails once, then the retry goes through.
        transient = pb.ConfirmPaymentRequest(name=order.name, card=card("4000000000000119"))
        await rpc_error(confirm(transient, metadata=ALICE), grpc.StatusCode.UNAVAILABLE)
        assert (await confirm(transient, metadata=ALICE)).order.paid
        await until(lambda: _is(flow, order.name, pb.Order.STATUS_FULFILLED), what="FULFILLED")
    logged = "\n".join(r.getMessage() + json.dumps(r.__dict__, default=str) for r in caplog.records)
    for number in ("4242424242424242", "4000000000000119", "4000000000000002"):
        assert number not in logged
    # The workflow's own log (its function worker's lines) and every other file written.
    assert _files_mentioning(tmp_path, "4000000000000119") == []


def _files_mentioning(root: Path, text: str) -> list[Path]:
    return [
        path for path in root.rglob("*") if path.is_file() and text.encode() in path.read_bytes()
    ]


async def test_the_workflow_rpcs_are_internal_and_check_their_input(tmp_path: Path) -> None:
    async with workflow_shop(tmp_path) as flow:
        order = await flow.order("internal")
        await_payment = pb.AwaitPaymentRequest(name=order.name, task_token="forged")
        for call in (
            flow.orders.AwaitPayment(await_payment, metadata=ALICE),
            flow.orders.AdvanceOrder(
                pb.AdvanceOrderRequest(name=order.name, status=pb.Order.STATUS_FULFILLED),
                metadata=ALICE,
            ),
        ):
            await rpc_error(call, grpc.StatusCode.PERMISSION_DENIED)
        await invalid(
            flow.orders.AwaitPayment(pb.AwaitPaymentRequest(name=order.name)), "task_token"
        )
        await invalid(
            flow.orders.AwaitPayment(
                pb.AwaitPaymentRequest(name=order.name, task_token="t" * 9000)
            ),
            "task_token",
        )
        await invalid(
            flow.orders.AdvanceOrder(
                pb.AdvanceOrderRequest(name=order.name, status=pb.Order.STATUS_CONFIRMED)
            ),
            "status",
        )
        # Fulfilling an unpaid order is refused (the workflow would compensate).
        conflict = await reason(
            flow.orders.AdvanceOrder(
                pb.AdvanceOrderRequest(name=order.name, status=pb.Order.STATUS_FULFILLED)
            ),
            FAILED_PRECONDITION,
        )
        assert conflict == "ORDER_STATE_CONFLICT"
        await rpc_error(
            flow.orders.AdvanceOrder(
                pb.AdvanceOrderRequest(name="orders/" + "0" * 32, status=pb.Order.STATUS_PAID)
            ),
            grpc.StatusCode.NOT_FOUND,
        )
