"""the payment workflow's columns: deadline, payment reference, task token, execution

Revision ID: 0004
Revises: 0003

Orders now await payment (PENDING_PAYMENT) under a fulfilment workflow. The
order keeps its payment deadline, the provider's reference of its payment (never
card data), the task token of the workflow's payment wait and the execution's
id, so a confirmation or a cancel can answer the workflow. All are nullable:
older orders never awaited payment.
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("orders") as batch:
        batch.add_column(sa.Column("payment_deadline", sa.BigInteger(), nullable=True))
        batch.add_column(sa.Column("payment_id", sa.String(64), nullable=True))
        batch.add_column(sa.Column("task_token", sa.Text(), nullable=True))
        batch.add_column(sa.Column("execution", sa.String(512), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("orders") as batch:
        batch.drop_column("execution")
        batch.drop_column("task_token")
        batch.drop_column("payment_id")
        batch.drop_column("payment_deadline")
