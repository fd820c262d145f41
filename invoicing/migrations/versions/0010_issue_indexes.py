"""issuing writes fewer index entries: charges found unbilled by a partial index

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-06

Billing a charge (setting its invoice_id) writes a new version of the row into every
index of `charges`. The index by (subscriber, invoice) becomes a partial index by
subscriber of the unbilled charges only, which a billed row leaves; the index by
(period, subscriber), which no query reads any more, is dropped. Measured billing
140,000 charges on PostgreSQL (foreign key left out): 2.3 s of server CPU before, 1.5 s
after (median of three and five, load average 5 on 2 cores).
The index by credited invoice keeps only credit notes (an invoice has none): issuing an
invoice no longer adds an entry to it.
"""

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

_UNBILLED = "invoice_id IS NULL"
_CREDITING = "credited_invoice_id IS NOT NULL"


def upgrade() -> None:
    op.drop_index("ix_charges_subscriber_invoice", table_name="charges")
    op.drop_index("ix_charges_period_subscriber", table_name="charges")
    op.create_index(
        "ix_charges_unbilled",
        "charges",
        ["subscriber_id"],
        sqlite_where=sa.text(_UNBILLED),
        postgresql_where=sa.text(_UNBILLED),
    )
    op.drop_index("ix_invoices_credited", table_name="invoices")
    op.create_index(
        "ix_invoices_credited",
        "invoices",
        ["credited_invoice_id"],
        sqlite_where=sa.text(_CREDITING),
        postgresql_where=sa.text(_CREDITING),
    )


def downgrade() -> None:
    op.drop_index("ix_invoices_credited", table_name="invoices")
    op.create_index("ix_invoices_credited", "invoices", ["credited_invoice_id"])
    op.drop_index("ix_charges_unbilled", table_name="charges")
    op.create_index("ix_charges_period_subscriber", "charges", ["period", "subscriber_id"])
    op.create_index("ix_charges_subscriber_invoice", "charges", ["subscriber_id", "invoice_id"])
