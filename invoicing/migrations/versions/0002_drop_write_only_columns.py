"""drop write-only columns: billing_runs.chord_id, invoices.attempts

Nothing ever read them: a run is followed in the database, not through its chord's
id, and how often an invoice was tried is in the workers' logs.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-24
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

DROPPED = (("billing_runs", "chord_id"), ("invoices", "attempts"))


def _in_place() -> bool:
    """PostgreSQL drops a column in place, and so does SQLite since 3.35 (2021); older
    SQLite needs the table copied (batch mode; `init_db` runs migrations with SQLite's
    foreign keys off, so dropping the old copy of invoices takes no invoice lines along)."""
    bind = op.get_bind()
    return bind.dialect.name != "sqlite" or (bind.dialect.server_version_info or (0,)) >= (3, 35)


def upgrade() -> None:
    for table, column in DROPPED:
        if _in_place():
            op.drop_column(table, column)
        else:
            with op.batch_alter_table(table) as batch_op:
                batch_op.drop_column(column)


def downgrade() -> None:
    # Adding a column is in place everywhere.
    op.add_column("billing_runs", sa.Column("chord_id", sa.String(length=64), nullable=True))
    op.add_column("invoices", sa.Column("attempts", sa.Integer(), nullable=False, server_default="0"))
