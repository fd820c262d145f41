"""a run's invoices in number order by an index: (run_id, seq)

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-06

The merge ahead and the body walk a run's invoices in number order, a chunk at a time
(`run_id = ? AND seq > ? ORDER BY seq LIMIT n`). Without this index each such query read
and sorted every invoice of the run: unnoticed at 100,000, but at 1,000,000 on SQLite the
merge ahead had merged about 70,000 invoices an hour after rendering began.
"""

from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_invoices_run_seq", "invoices", ["run_id", "seq"])


def downgrade() -> None:
    op.drop_index("ix_invoices_run_seq", table_name="invoices")
