"""orders belong to a customer; request ids are unique per customer

Revision ID: 0002
Revises: 0001

Orders made before this revision have no recorded owner: they get the empty
owner, which no signed-in customer has, so only admins and the mesh itself see
them. Nothing is guessed from data that never said who ordered.
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

# 0001 left its unique constraint unnamed; this names it on SQLite (where batch
# mode rebuilds the table from reflection) so it can be dropped by name.
_NAMES = {"uq": "uq_%(table_name)s_%(column_0_name)s"}


def _unique_name() -> str:
    if op.get_bind().dialect.name == "postgresql":
        return "orders_request_id_key"  # PostgreSQL's name for 0001's constraint
    return "uq_orders_request_id"


def upgrade() -> None:
    with op.batch_alter_table("orders", naming_convention=_NAMES) as batch:
        batch.add_column(sa.Column("owner", sa.String(255), nullable=False, server_default=""))
        batch.drop_constraint(_unique_name(), type_="unique")
        batch.create_unique_constraint("uq_orders_owner_request_id", ["owner", "request_id"])
    op.create_index("ix_orders_owner_create_time", "orders", ["owner", "create_time"])


def downgrade() -> None:
    op.drop_index("ix_orders_owner_create_time", "orders")
    with op.batch_alter_table("orders", naming_convention=_NAMES) as batch:
        batch.drop_constraint("uq_orders_owner_request_id", type_="unique")
        batch.create_unique_constraint(_unique_name(), ["request_id"])
        batch.drop_column("owner")
