"""stock, reservations and reservation lines

Revision ID: 0001
Revises:
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "stock",
        sa.Column("sku", sa.String(64), primary_key=True),
        sa.Column("on_hand", sa.BigInteger, nullable=False),
        sa.Column("reserved", sa.BigInteger, nullable=False),
        sa.Column("update_time", sa.BigInteger, nullable=False),
        sa.CheckConstraint("reserved >= 0 AND reserved <= on_hand", name="ck_stock_reserved"),
    )
    op.create_table(
        "reservations",
        sa.Column("reservation_id", sa.String(128), primary_key=True),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("create_time", sa.BigInteger, nullable=False),
        sa.Column("update_time", sa.BigInteger, nullable=False),
    )
    op.create_table(
        "reservation_lines",
        sa.Column(
            "reservation_id",
            sa.String(128),
            sa.ForeignKey("reservations.reservation_id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("sku", sa.String(64), primary_key=True),
        sa.Column("quantity", sa.BigInteger, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("reservation_lines")
    op.drop_table("reservations")
    op.drop_table("stock")
