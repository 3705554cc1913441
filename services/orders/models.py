"""Orders tables. Money is integer minor units; times are microseconds since the epoch."""

from sqlalchemy import BigInteger, Column, ForeignKey, MetaData, String, Table

metadata = MetaData()

orders = Table(
    "orders",
    metadata,
    Column("order_id", String(32), primary_key=True),
    # The client's idempotency key: a retry finds the order it already made.
    Column("request_id", String(128), nullable=False, unique=True),
    Column("fingerprint", String(64), nullable=False),
    Column("status", String(16), nullable=False),
    Column("reservation_id", String(128), nullable=False),
    Column("currency_code", String(3), nullable=False),
    Column("total_minor", BigInteger, nullable=False),
    Column("create_time", BigInteger, nullable=False, index=True),
    Column("update_time", BigInteger, nullable=False),
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
