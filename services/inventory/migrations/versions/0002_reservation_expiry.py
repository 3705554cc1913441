"""reservations expire unless committed

Revision ID: 0002
Revises: 0001

Reservations made before this revision keep a NULL expire_time: they never
lapse. Their orders were confirmed without a commit (nothing called it then),
so releasing them now would hand out stock those orders hold.
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("reservations", sa.Column("expire_time", sa.BigInteger, nullable=True))
    op.create_index("ix_reservations_state_expire_time", "reservations", ["state", "expire_time"])


def downgrade() -> None:
    op.drop_index("ix_reservations_state_expire_time", table_name="reservations")
    with op.batch_alter_table("reservations") as batch:
        batch.drop_column("expire_time")
