"""Watch notifications inside one orders process: every published state, in order."""

from __future__ import annotations

import asyncio
import time
from dataclasses import replace

from services.orders.events import OrderEvents
from services.orders.store import OrderRecord

PENDING = OrderRecord(
    order_id="a" * 32,
    owner="alice",
    request_id="r",
    fingerprint="f",
    status="PENDING_PAYMENT",
    reservation_id="b" * 32,
    currency_code="EUR",
    total_minor=1200,
    lines=(("mug", 1, 1200),),
    update_time=1,
)


async def test_two_changes_published_back_to_back_both_reach_the_watcher() -> None:
    events = OrderEvents()
    with events.subscribe(PENDING.order_id) as changes:
        # PAID then FULFILLED with no await between: the watcher has not run yet.
        events.publish(PENDING.order_id, replace(PENDING, status="PAID", update_time=2))
        events.publish(PENDING.order_id, replace(PENDING, status="FULFILLED", update_time=3))
        await changes.wait(5)
        assert [r.status if r else None for r in changes.take()] == ["PAID", "FULFILLED"]
        assert changes.take() == []


async def test_a_change_without_its_state_is_still_a_change_and_others_are_not_told() -> None:
    events = OrderEvents()
    with events.subscribe(PENDING.order_id) as mine, events.subscribe("b" * 32) as other:
        events.publish(PENDING.order_id)
        await mine.wait(5)
        assert mine.take() == [None]
        started = time.monotonic()
        await other.wait(0.05)
        assert other.take() == [] and time.monotonic() - started >= 0.04


async def test_a_watcher_far_behind_keeps_the_newest_changes() -> None:
    events = OrderEvents()
    with events.subscribe(PENDING.order_id) as changes:
        for stamp in range(100):
            events.publish(PENDING.order_id, replace(PENDING, update_time=stamp))
        kept = changes.take()
        assert 0 < len(kept) < 100
        assert [r.update_time for r in kept if r] == list(range(100 - len(kept), 100))


async def test_close_wakes_every_watcher_and_unsubscribing_forgets_the_order() -> None:
    events = OrderEvents()
    with events.subscribe(PENDING.order_id) as changes:
        waiting = asyncio.create_task(changes.wait(30))
        # Nothing published: the watcher stays parked (a window in which it must not return).
        done, _ = await asyncio.wait({waiting}, timeout=0.05)
        assert not done
        await events.close()
        await asyncio.wait_for(waiting, 5)
        assert events.closed.is_set() and changes.take() == []
    events.publish(PENDING.order_id, PENDING)
    assert changes.take() == []
