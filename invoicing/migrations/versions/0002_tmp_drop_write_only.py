"""TEMPORARY (replaced by the run/ branch's 0002): drop write-only columns

Revision ID: 0002
Revises: 0001
"""

from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("billing_runs") as batch:
        batch.drop_column("chord_id")
    with op.batch_alter_table("invoices") as batch:
        batch.drop_column("attempts")


def downgrade() -> None:
    raise NotImplementedError
