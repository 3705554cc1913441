"""Orders tables. Money is integer minor units; times are microseconds since the epoch."""

from sqlalchemy import (
    BigInteger,
    Column,
    ForeignKey,
    Index,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)

metadata = MetaData()

orders = Table(
    "orders",
    metadata,
    Column("order_id", String(32), primary_key=True),
    # The verified subject who placed it; "" for orders from inside the mesh
    # and for orders older than ownership (see migration 0002).
    Column("owner", String(255), nullable=False, server_default=""),
    # The client's idempotency key, per owner: a retry finds the order it already
    # made, and one customer's key never reveals or blocks another's order.
    Column("request_id", String(128), nullable=False),
    Column("fingerprint", String(64), nullable=False),
    Column("status", String(16), nullable=False),
    Column("reservation_id", String(128), nullable=False),
    Column("currency_code", String(3), nullable=False),
    Column("total_minor", BigInteger, nullable=False),
    Column("create_time", BigInteger, nullable=False, index=True),
    Column("update_time", BigInteger, nullable=False),
    # The payment workflow (migration 0004): until when payment is accepted, the
    # provider's reference of the payment (never card data), the task token of the
    # workflow's payment wait and the execution; NULL for orders without one.
    Column("payment_deadline", BigInteger, nullable=True),
    Column("payment_id", String(64), nullable=True),
    Column("task_token", Text, nullable=True),
    Column("execution", String(512), nullable=True),
    UniqueConstraint("owner", "request_id", name="uq_orders_owner_request_id"),
    Index("ix_orders_owner_create_time", "owner", "create_time"),
    Index("ix_orders_status_create_time", "status", "create_time"),
)

order_lines = Table(
    "order_lines",
    metadata,
    Column(
        "order_id", String(32), ForeignKey("orders.order_id", ondelete="CASCADE"), primary_key=True
    ),
    Column("sku", String(64), primary_key=True),
    Column("quantity", BigInteger, nullable=False),
    Column("unit_price_minor", BigInteger, nullable=False),
)
