"""Catalog tables. Times are integer microseconds since the epoch (UTC) on every database."""

from sqlalchemy import BigInteger, Boolean, Column, MetaData, String, Table, Text

metadata = MetaData()

products = Table(
    "products",
    metadata,
    Column("sku", String(64), primary_key=True),
    Column("display_name", String(200), nullable=False),
    Column("description", Text, nullable=False, default=""),
    Column("currency_code", String(3), nullable=False),
    Column("amount_minor", BigInteger, nullable=False),
    Column("active", Boolean, nullable=False),
    Column("create_time", BigInteger, nullable=False),
    Column("update_time", BigInteger, nullable=False),
)
