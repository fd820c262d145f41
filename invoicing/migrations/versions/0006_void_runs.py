"""runs billed by mistake can be voided until something has left: void and released marks

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-06

`invoicing void` marks a run and its invoices void, with when and why; their numbers stay
used. Invoices record when a copy of them first left the system (export, a merge for
print), after which a run can no longer be voided. A void invoice bills nobody, so the
one-invoice-per-subscriber-and-period index leaves it out. New nullable columns; what
left before this revision was not recorded, so every invoice issued before it counts as
released ('unrecorded'): an earlier run is never voided.
Charges get an index by invoice (a run's late charges, the charges a void gives back).
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

_LIVE = "kind = 'invoice' AND voided_at IS NULL"
_INVOICES = "kind = 'invoice'"


def upgrade() -> None:
    # Dropped first, so a SQLite table copy never has to carry a partial index.
    op.drop_index("uq_invoice_subscriber_period", table_name="invoices")
    with op.batch_alter_table("billing_runs") as batch:
        batch.add_column(sa.Column("voided_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("void_reason", sa.Text(), nullable=True))
    with op.batch_alter_table("invoices") as batch:
        batch.add_column(sa.Column("released_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("released_by", sa.String(32), nullable=True))
        batch.add_column(sa.Column("voided_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("void_reason", sa.Text(), nullable=True))
    _index(_LIVE)
    # Whether an invoice issued before this revision was exported or merged was never
    # recorded: it may have left, so its run is never voided (credit notes correct it).
    op.execute("UPDATE invoices SET released_at = CURRENT_TIMESTAMP, released_by = 'unrecorded'")
    # `status` lists a run's late charges, and a void gives its charges back: by invoice.
    op.create_index("ix_charges_invoice", "charges", ["invoice_id"])


def downgrade() -> None:
    op.drop_index("ix_charges_invoice", table_name="charges")
    op.drop_index("uq_invoice_subscriber_period", table_name="invoices")
    with op.batch_alter_table("invoices") as batch:
        for column in ("void_reason", "voided_at", "released_by", "released_at"):
            batch.drop_column(column)
    with op.batch_alter_table("billing_runs") as batch:
        batch.drop_column("void_reason")
        batch.drop_column("voided_at")
    _index(_INVOICES)


def _index(where: str) -> None:
    op.create_index(
        "uq_invoice_subscriber_period",
        "invoices",
        ["subscriber_id", "period"],
        unique=True,
        sqlite_where=sa.text(where),
        postgresql_where=sa.text(where),
    )
