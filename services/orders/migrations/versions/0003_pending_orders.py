"""an index for the pending orders the settler looks for

Revision ID: 0003
Revises: 0002

Orders are now written PENDING and confirmed once their stock is committed;
the settler looks for old pending orders every few seconds, which without
this index would read every order ever made.
"""

from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_orders_status_create_time", "orders", ["status", "create_time"])


def downgrade() -> None:
    op.drop_index("ix_orders_status_create_time", table_name="orders")
