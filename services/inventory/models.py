"""Inventory tables. Quantities are integers; times are microseconds since the epoch."""

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Column,
    ForeignKey,
    Index,
    MetaData,
    String,
    Table,
)

metadata = MetaData()

stock = Table(
    "stock",
    metadata,
    Column("sku", String(64), primary_key=True),
    Column("on_hand", BigInteger, nullable=False),
    Column("reserved", BigInteger, nullable=False),
    Column("update_time", BigInteger, nullable=False),
    # The database itself refuses an oversell, whatever the code above it does.
    CheckConstraint("reserved >= 0 AND reserved <= on_hand", name="ck_stock_reserved"),
)

reservations = Table(
    "reservations",
    metadata,
    Column("reservation_id", String(128), primary_key=True),
    Column("state", String(16), nullable=False),
    Column("create_time", BigInteger, nullable=False),
    Column("update_time", BigInteger, nullable=False),
    # When an active reservation lapses; NULL: never (made before expiry existed).
    Column("expire_time", BigInteger, nullable=True),
    # The sweeper asks for active reservations past their time, oldest first.
    Index("ix_reservations_state_expire_time", "state", "expire_time"),
)

reservation_lines = Table(
    "reservation_lines",
    metadata,
    Column(
        "reservation_id",
        String(128),
        ForeignKey("reservations.reservation_id", ondelete="CASCADE"),
        primary_key=True,
    ),
    Column("sku", String(64), primary_key=True),
    Column("quantity", BigInteger, nullable=False),
)
