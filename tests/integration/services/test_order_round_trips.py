"""How much SQL one CreateOrder costs each service, counted at the driver.

Every statement reaches the database through SQLAlchemy's ``before_cursor_execute``
and every connection through a pool checkout (on PostgreSQL a checkout is a
round trip of its own: the pre-ping). A CreateOrder's budget is fixed, and does
not grow with its lines: more lines are more rows in the same statements. Before
this budget: orders made 8 statements over 5 checkouts (it read back what it had
just written, twice) and inventory 6 + 2 per line (46 for 20 lines).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import event

from shop.orders.v1 import orders_pb2 as pb
from tests.integration.services.test_orders import order_request, seed
from tests.support.mesh import Shop

SKUS = [f"sku-{i:02d}" for i in range(20)]


def budget(mesh: Shop, size: int) -> dict[str, tuple[int, int]]:
    """(statements, connection checkouts) per service for one CreateOrder of ``size`` lines.

    catalog: the products by sku. orders: the request id looked up; the order and
    its lines inserted; the order confirmed. inventory: the reservation, its stock
    taken and its lines inserted; then committed (the flip, its lines read, the
    stock moved). On PostgreSQL an order of several lines also locks its stock rows
    in sku order before each of the two stock statements.
    """
    locks = 2 if size > 1 and mesh.inventory.database.engine.dialect.name == "postgresql" else 0
    return {"catalog": (1, 1), "inventory": (6 + locks, 2), "orders": (4, 3)}


@contextmanager
def counted(mesh: Shop) -> Iterator[dict[str, Counter[str]]]:
    counts: dict[str, Counter[str]] = {}
    hooks: list[tuple[Any, str, Any]] = []
    for name in ("catalog", "inventory", "orders"):
        engine = getattr(mesh, name).database.engine.sync_engine
        tally = counts[name] = Counter()

        def statement(
            _conn: Any, _cursor: Any, sql: str, *_: Any, tally: Counter[str] = tally
        ) -> None:
            # SQLite's BEGIN IMMEDIATE (mesh.db's begin hook) goes through a cursor too;
            # PostgreSQL's BEGIN does not: transactions are not statements here.
            if not sql.startswith("BEGIN"):
                tally["statements"] += 1

        def checkout(*_: Any, tally: Counter[str] = tally) -> None:
            tally["checkouts"] += 1

        event.listen(engine, "before_cursor_execute", statement)
        event.listen(engine.pool, "checkout", checkout)
        hooks += [(engine, "before_cursor_execute", statement), (engine.pool, "checkout", checkout)]
    try:
        yield counts
    finally:
        for target, name, fn in hooks:
            event.remove(target, name, fn)


async def test_a_create_order_costs_a_fixed_number_of_statements(mesh: Shop) -> None:
    for i, sku in enumerate(SKUS):
        await seed(mesh, sku, 100 + i, 1000)
    for size in (1, 5, 20):
        with counted(mesh) as counts:
            lines = [(sku, 1) for sku in SKUS[:size]]
            order = (
                await mesh.orders_stub.CreateOrder(order_request(f"size-{size}", *lines))
            ).order
        assert order.status == pb.Order.STATUS_CONFIRMED
        assert len(order.lines) == size
        for service, (statements, checkouts) in budget(mesh, size).items():
            found = counts[service]
            assert (found["statements"], found["checkouts"]) == (statements, checkouts), (
                f"{size} line(s), {service}: {dict(found)}"
            )


async def test_a_repeated_create_order_reads_and_writes_nothing_more(mesh: Shop) -> None:
    await seed(mesh, "mug", 100, 10)
    first = (await mesh.orders_stub.CreateOrder(order_request("again", ("mug", 1)))).order
    with counted(mesh) as counts:
        again = (await mesh.orders_stub.CreateOrder(order_request("again", ("mug", 1)))).order
    assert again == first
    # The order and its lines, read once by request id; nobody else is called.
    assert (counts["orders"]["statements"], counts["orders"]["checkouts"]) == (2, 1)
    assert counts["catalog"]["statements"] == counts["inventory"]["statements"] == 0
