"""An order's life under the fulfilment workflow: payment, its deadline, the workflow's moves.

::

    CreateOrder ─> PENDING ─(start execution)─> PENDING_PAYMENT ─ConfirmPayment─> (paid) ─> PAID ─> FULFILLED
                                                     │  deadline passes  ─> EXPIRED   (stock back, late payment refunded)
                                                     │  CancelOrder      ─> CANCELLED (stock back, workflow stopped)
                                                     └  a step fails     ─> FAILED    (stock back, payment refunded)

Orders owns the order's state and the payment; the workflow
(``workflows/order_fulfilment.asl.json``) owns the sequence and its timing and
moves the order through :meth:`Lifecycle.advance`. The two meet at the payment
wait: the workflow hands orders a task token (:meth:`Lifecycle.await_payment`);
orders answers it when the payment is recorded, whichever of the two comes
first (each writes, then reads the other's part, so one of them sees both).

Orders answers ConfirmPayment only before the order's ``payment_deadline``; the
workflow's wait times out a little later (it started after the order was
written), so a payment orders accepted is almost always in time. If the wait
timed out anyway, the payment is refunded when the workflow marks the order
EXPIRED, and the customer gets ORDER_EXPIRED.

The reservation's TTL is the payment deadline plus :data:`RESERVATION_MARGIN`:
the workflow releases the stock at expiry itself, and inventory's sweeper is the
safety net if the workflow is lost (its interpreter restarted, say); the
settler then expires the order (:meth:`Lifecycle.expire_overdue`).
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from typing import Any

from mesh.clients import Clients
from mesh.errors import FailedPrecondition, MeshError, Unavailable
from mesh.timeutil import now_us
from services.orders.events import OrderEvents
from services.orders.payments import (
    Card,
    PaymentDeclined,
    PaymentProvider,
    PaymentUnavailable,
)
from services.orders.store import (
    CANCELLED,
    EXPIRED,
    FAILED,
    FINAL,
    FULFILLED,
    PAID,
    PENDING,
    PENDING_PAYMENT,
    OrderRecord,
    OrdersStore,
)
from services.orders.workflow import Workflow
from shop.inventory.v1 import inventory_pb2, inventory_pb2_grpc

__all__ = ["RESERVATION_MARGIN", "Lifecycle", "order_closed"]

log = logging.getLogger("orders.lifecycle")
# Time for the workflow to commit a paid order's stock, retries included (a step
# retries for about half a minute at most), before inventory's sweeper may take the
# reservation back and the settler expires an order its workflow left behind.
RESERVATION_MARGIN = 120.0
# Which moves the workflow may make (target: from). A final target reached from
# any final status is a no-op, so compensations never fail on a raced cancel.
WORKFLOW_MOVES: dict[str, frozenset[str]] = {
    PAID: frozenset({PENDING, PENDING_PAYMENT}),
    FULFILLED: frozenset({PAID}),
    EXPIRED: frozenset({PENDING, PENDING_PAYMENT}),
    CANCELLED: frozenset({PENDING, PENDING_PAYMENT}),
    FAILED: frozenset({PENDING, PENDING_PAYMENT, PAID}),
}
_CLOSED_REASON = {EXPIRED: "ORDER_EXPIRED"}


def order_closed(order: OrderRecord) -> FailedPrecondition:
    """The error for paying an order that no longer takes payment."""
    status = order.status
    reason = _CLOSED_REASON.get(status, "ORDER_CLOSED")
    if status == EXPIRED:
        message = "the order expired: its payment deadline passed and its stock went back"
    elif status in (CANCELLED, FAILED):
        message = f"the order is {status.lower()}; it can no longer be paid"
    else:
        message = f"the order does not await payment (it is {status})"
        reason = "ORDER_NOT_AWAITING_PAYMENT"
    return FailedPrecondition(
        message,
        reason=reason,
        metadata={"order": f"orders/{order.order_id}", "status": status},
    )


@dataclass(frozen=True, slots=True)
class Lifecycle:
    store: OrdersStore
    clients: Clients
    events: OrderEvents
    workflow: Workflow
    payments: PaymentProvider
    payment_deadline: float

    @property
    def enabled(self) -> bool:
        return self.workflow.enabled

    @property
    def reservation_ttl(self) -> float:
        # Inventory takes a day at most.
        return min(self.payment_deadline + RESERVATION_MARGIN, 86400.0)

    def deadline_from_now(self) -> int:
        return now_us() + int(self.payment_deadline * 1_000_000)

    async def start(self, order: OrderRecord) -> OrderRecord:
        """A PENDING order's execution started and the order PENDING_PAYMENT (idempotent)."""
        if order.status != PENDING:
            return order
        deadline = order.payment_deadline or self.deadline_from_now()
        seconds = max(1, math.ceil((deadline - now_us()) / 1_000_000))
        execution = await self.workflow.start(
            order.order_id,
            {
                "order": f"orders/{order.order_id}",
                "reservation": f"reservations/{order.reservation_id}",
                "payment_deadline_seconds": seconds,
            },
        )
        moved = await self.store.move(
            order.order_id, {PENDING}, PENDING_PAYMENT, execution=execution
        )
        latest = await self.store.get(order.order_id)
        if moved:
            self.events.publish(order.order_id, latest)
        return latest

    async def confirm(self, order: OrderRecord, card: Card) -> OrderRecord:
        """ConfirmPayment for an order the caller may see (checked by the servicer)."""
        if order.status == PENDING and self.enabled:
            order = await self.start(order)
        if order.payment_id is not None and order.status in (PENDING, PENDING_PAYMENT):
            # A repeated confirmation: nothing is charged again; the answer to the
            # workflow is sent again in case the first one was lost.
            await self._answer(order)
            return await self.store.get(order.order_id)
        if order.payment_id is not None and order.status in (PAID, FULFILLED):
            return order
        if order.status != PENDING_PAYMENT:
            raise order_closed(order)
        if order.payment_deadline is not None and now_us() >= order.payment_deadline:
            raise FailedPrecondition(
                "the order's payment deadline has passed; it expires and its stock goes back",
                reason="ORDER_EXPIRED",
                metadata={"order": f"orders/{order.order_id}", "status": order.status},
            )
        try:
            charge = await self.payments.charge(
                amount_minor=order.total_minor,
                currency_code=order.currency_code,
                card=card,
                idempotency_key=order.order_id,
            )
        except PaymentDeclined as exc:
            raise FailedPrecondition(
                f"the payment was declined ({exc.code}); try another card",
                reason="PAYMENT_DECLINED",
                metadata={"decline_code": exc.code, "order": f"orders/{order.order_id}"},
            ) from None
        except PaymentUnavailable:
            raise Unavailable(
                "the payment provider did not answer; nothing was charged, retry",
                reason="PAYMENT_PROVIDER_UNAVAILABLE",
            ) from None
        if not await self.store.record_payment(order.order_id, charge.payment_id):
            latest = await self.store.get(order.order_id)
            if latest.payment_id == charge.payment_id:
                return latest  # a concurrent twin of this confirmation recorded it
            await self._refund(charge.payment_id, order.order_id)
            if latest.payment_id is not None:
                return latest
            raise order_closed(latest)
        log.info("order paid", extra={"order_id": order.order_id})
        paid = await self.store.get(order.order_id)
        self.events.publish(order.order_id, paid)
        if (
            not await self._answer(paid)
            and paid.task_token is not None
            and paid.payment_deadline is not None
            and now_us() >= paid.payment_deadline
        ):
            # The wait timed out just now: the workflow expires the order and the
            # payment is refunded then (advance to EXPIRED). Before the deadline a
            # wait that is over was answered by its twin: AwaitPayment saw the
            # payment recorded and answered it first.
            raise FailedPrecondition(
                "the order's payment deadline passed while paying; the payment is refunded",
                reason="ORDER_EXPIRED",
                metadata={"order": f"orders/{order.order_id}", "status": EXPIRED},
            )
        return await self.store.get(order.order_id)

    async def await_payment(self, order_id: str, token: str) -> OrderRecord:
        """AwaitPayment: keep the token; answer at once if the order is paid already."""
        order = await self.store.get(order_id)
        if order.status in FINAL:
            raise order_closed(order)
        if order.status == PAID:  # FULFILLED is final: refused above
            # A retried wait after the payment went through: let it pass.
            await self.workflow.succeed(token, {"payment": order.payment_id or ""})
            return order
        if not await self.store.attach_token(order_id, token):
            raise order_closed(await self.store.get(order_id))
        order = await self.store.get(order_id)
        if order.payment_id is not None:
            await self._answer(order)
        return order

    async def advance(self, order_id: str, status: str) -> OrderRecord:
        """AdvanceOrder: the workflow's move; no-op when there already."""
        allowed = WORKFLOW_MOVES.get(status)
        if allowed is None:
            raise FailedPrecondition(
                f"the workflow cannot move an order to {status}",
                reason="ORDER_STATE_CONFLICT",
                metadata={"status": status},
            )
        order = await self.store.get(order_id)
        if order.status == status or (status in FINAL and order.status in FINAL):
            await self._refund_if_closed(order)
            return order
        if status == PAID and order.payment_id is None:
            raise FailedPrecondition(
                "the order has no payment recorded",
                reason="ORDER_NOT_PAID",
                metadata={"order": f"orders/{order_id}"},
            )
        if not await self.store.move(order_id, allowed, status):
            latest = await self.store.get(order_id)
            if latest.status == status or (status in FINAL and latest.status in FINAL):
                return latest
            raise FailedPrecondition(
                f"the order is {latest.status}; it cannot become {status}",
                reason="ORDER_STATE_CONFLICT",
                metadata={"order": f"orders/{order_id}", "status": latest.status},
            )
        log.info("order moved", extra={"order_id": order_id, "status": status})
        moved = await self.store.get(order_id)
        self.events.publish(order_id, moved)
        await self._refund_if_closed(moved)
        return moved

    async def cancel_pending(self, order: OrderRecord) -> OrderRecord:
        """CancelOrder of an unpaid order awaiting payment: closed, stock back, workflow told."""
        if not await self.store.move(
            order.order_id, {PENDING, PENDING_PAYMENT}, CANCELLED, unpaid_only=True
        ):
            latest = await self.store.get(order.order_id)
            if latest.status == CANCELLED:
                return latest
            raise FailedPrecondition(
                "the order is paid (or no longer pending); it cannot be cancelled here",
                reason="ORDER_PAID" if latest.payment_id else "ORDER_STATE_CONFLICT",
                metadata={"order": f"orders/{order.order_id}", "status": latest.status},
            )
        self.events.publish(order.order_id)
        await self.return_stock(order)
        latest = await self.store.get(order.order_id)
        try:
            if latest.task_token is not None:
                await self.workflow.fail(
                    latest.task_token, "OrderCancelled", "the customer cancelled the order"
                )
            elif latest.execution is not None:
                await self.workflow.stop(latest.execution, "the customer cancelled the order")
        except MeshError:
            # The workflow finds the order closed when it asks (OrderClosed), or
            # its wait times out; either way its compensation is a no-op now.
            log.warning("could not tell the workflow of a cancel", extra=_ids(order))
        return latest

    async def return_stock(self, order: OrderRecord) -> None:
        inventory: inventory_pb2_grpc.InventoryServiceAsyncStub = self.clients.stub(
            "inventory", inventory_pb2_grpc.InventoryServiceStub
        )
        try:
            await self.clients.call(
                inventory.ReturnReservation,
                inventory_pb2.ReturnReservationRequest(name=f"reservations/{order.reservation_id}"),
                service="inventory",
            )
        except MeshError:
            # The workflow's compensation returns it too, and an active
            # reservation lapses by its TTL at the latest.
            log.warning("could not return a cancelled order's stock", extra=_ids(order))

    async def expire_overdue(self, *, grace: float) -> int:
        """Orders still awaiting payment ``grace`` seconds past their deadline: the
        workflow that should have expired them is lost. Expire them here."""
        handled = 0
        before = now_us() - int(grace * 1_000_000)
        for order in await self.store.overdue(deadline_before=before):
            if await self.store.move(order.order_id, {PENDING_PAYMENT}, EXPIRED):
                self.events.publish(order.order_id)
                await self.return_stock(order)
                await self._refund_if_closed(await self.store.get(order.order_id))
                log.warning("expired an order its workflow left behind", extra=_ids(order))
                handled += 1
        return handled

    async def _answer(self, order: OrderRecord) -> bool:
        if order.task_token is None or order.payment_id is None:
            return False
        return await self.workflow.succeed(order.task_token, {"payment": order.payment_id})

    async def _refund_if_closed(self, order: OrderRecord) -> None:
        if order.payment_id is not None and order.status in (EXPIRED, FAILED, CANCELLED):
            await self._refund(order.payment_id, order.order_id)

    async def _refund(self, payment_id: str, order_id: str) -> None:
        try:
            await self.payments.refund(payment_id, idempotency_key=f"refund-{order_id}")
        except Exception as exc:
            raise Unavailable(
                "the payment provider did not take the refund; retry",
                reason="PAYMENT_PROVIDER_UNAVAILABLE",
            ) from exc
        log.info("payment refunded", extra={"order_id": order_id})


def _ids(order: OrderRecord) -> dict[str, Any]:
    return {"order_id": order.order_id}
