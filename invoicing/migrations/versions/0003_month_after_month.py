"""billing month after month: bill-to snapshots, charge keys, supplements, credit notes

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-01

Existing data stays valid: every issued invoice gets the bill-to data its subscriber
has now (what its PDF was rendered from, since until now it was read at render time)
and no e-invoice inputs (it was rendered as a plain PDF),
every charge is linked to the invoice that billed it (same subscriber and period) and
gets a key of its own, and every existing run becomes the first run of its period.
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

# SQLite keeps an unnamed UNIQUE(period); batch mode can drop it once it has a name.
_NAMING = {"uq": "uq_%(table_name)s_%(column_0_name)s"}


def _kind(name: str, *values: str) -> sa.Enum:
    return sa.Enum(*values, name=name, native_enum=False, length=32)


def upgrade() -> None:
    sqlite = op.get_bind().dialect.name == "sqlite"

    with op.batch_alter_table("subscribers") as batch:
        batch.add_column(sa.Column("company", sa.String(200), nullable=True))
        batch.add_column(sa.Column("vat_id", sa.String(32), nullable=True))
        batch.add_column(sa.Column("buyer_reference", sa.String(200), nullable=True))
        batch.add_column(sa.Column("einvoice", sa.String(16), nullable=True))
        batch.add_column(sa.Column("tax_category", sa.String(2), nullable=True))
        batch.add_column(sa.Column("exemption_reason", sa.String(300), nullable=True))

    with op.batch_alter_table("billing_runs", naming_convention=_NAMING) as batch:
        batch.add_column(sa.Column("seq", sa.Integer(), nullable=False, server_default="1"))
        batch.add_column(
            sa.Column(
                "kind",
                _kind("run_kind", "billing", "supplement", "credit"),
                nullable=False,
                server_default="billing",
            )
        )
        batch.drop_constraint("uq_billing_runs_period" if sqlite else "billing_runs_period_key", "unique")
        batch.create_unique_constraint("uq_run_period_seq", ["period", "seq"])

    with op.batch_alter_table("invoices") as batch:
        batch.add_column(
            sa.Column(
                "kind",
                _kind("document_kind", "invoice", "credit_note"),
                nullable=False,
                server_default="invoice",
            )
        )
        for column in ("bill_name", "bill_company"):
            batch.add_column(sa.Column(column, sa.String(200), nullable=True))
        batch.add_column(sa.Column("bill_address", sa.JSON(), nullable=True))
        batch.add_column(sa.Column("bill_country", sa.String(2), nullable=True))
        batch.add_column(sa.Column("bill_locale", sa.String(32), nullable=True))
        batch.add_column(sa.Column("bill_vat_id", sa.String(32), nullable=True))
        # The e-invoice's inputs; NULL for the invoices issued before: plain PDFs.
        batch.add_column(sa.Column("bill_einvoice", sa.String(16), nullable=True))
        batch.add_column(sa.Column("bill_buyer_reference", sa.String(200), nullable=True))
        batch.add_column(sa.Column("bill_email", sa.String(254), nullable=True))
        batch.add_column(sa.Column("bill_tax_category", sa.String(2), nullable=True))
        batch.add_column(sa.Column("bill_exemption_reason", sa.String(300), nullable=True))
        batch.add_column(sa.Column("credited_invoice_id", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("reason", sa.Text(), nullable=True))
        batch.create_foreign_key("fk_invoices_credited", "invoices", ["credited_invoice_id"], ["id"])
        batch.drop_constraint("uq_invoice_subscriber_period", "unique")
        batch.drop_constraint("uq_invoice_run_seq", "unique")
        batch.create_unique_constraint("uq_invoice_series_seq", ["period", "kind", "seq"])
        batch.create_index("ix_invoices_credited", ["credited_invoice_id"])

    # The snapshot: what each issued invoice was rendered from until now.
    op.execute(
        """
        UPDATE invoices SET
          bill_name = (SELECT name FROM subscribers s WHERE s.id = invoices.subscriber_id),
          bill_address = (SELECT address FROM subscribers s WHERE s.id = invoices.subscriber_id),
          bill_country = (SELECT country FROM subscribers s WHERE s.id = invoices.subscriber_id),
          bill_locale = (SELECT locale FROM subscribers s WHERE s.id = invoices.subscriber_id)
        """
    )
    with op.batch_alter_table("invoices") as batch:
        for column, kind in (
            ("bill_name", sa.String(200)),
            ("bill_address", sa.JSON()),
            ("bill_country", sa.String(2)),
            ("bill_locale", sa.String(32)),
        ):
            batch.alter_column(column, existing_type=kind, nullable=False)
    op.create_index(
        "uq_invoice_subscriber_period",
        "invoices",
        ["subscriber_id", "period"],
        unique=True,
        sqlite_where=sa.text("kind = 'invoice'"),
        postgresql_where=sa.text("kind = 'invoice'"),
    )

    with op.batch_alter_table("invoice_lines") as batch:
        batch.alter_column("description", existing_type=sa.String(200), type_=sa.String(240))

    with op.batch_alter_table("charges") as batch:
        batch.add_column(sa.Column("source_key", sa.String(200), nullable=True))
        batch.add_column(sa.Column("invoice_id", sa.Integer(), nullable=True))
        batch.create_foreign_key("fk_charges_invoice", "invoices", ["invoice_id"], ["id"])
    op.execute("UPDATE charges SET source_key = 'legacy:' || CAST(id AS VARCHAR(20))")
    op.execute(
        """
        UPDATE charges SET invoice_id = (
          SELECT i.id FROM invoices i
          WHERE i.subscriber_id = charges.subscriber_id AND i.period = charges.period
            AND i.kind = 'invoice')
        """
    )
    with op.batch_alter_table("charges") as batch:
        batch.alter_column("source_key", existing_type=sa.String(200), nullable=False)
        batch.create_unique_constraint("uq_charges_source_key", ["source_key"])
        batch.create_index("ix_charges_subscriber_invoice", ["subscriber_id", "invoice_id"])


def downgrade() -> None:
    """Back to one run and one invoice per period, while nothing needs more: a database
    with credit notes or supplements cannot go back without losing them, so it refuses."""
    sqlite = op.get_bind().dialect.name == "sqlite"
    extra = (
        op.get_bind()
        .execute(sa.text("SELECT count(*) FROM billing_runs WHERE seq > 1 OR kind != 'billing'"))
        .scalar()
    )
    if extra:
        raise RuntimeError(f"cannot downgrade below 0003: {extra} supplement or credit run(s) would be lost")
    with op.batch_alter_table("charges") as batch:
        batch.drop_index("ix_charges_subscriber_invoice")
        batch.drop_constraint("uq_charges_source_key", "unique")
        batch.drop_constraint("fk_charges_invoice", "foreignkey")
        batch.drop_column("invoice_id")
        batch.drop_column("source_key")
    with op.batch_alter_table("invoice_lines") as batch:
        batch.alter_column("description", existing_type=sa.String(240), type_=sa.String(200))
    op.drop_index("uq_invoice_subscriber_period", "invoices")
    with op.batch_alter_table("invoices") as batch:
        batch.drop_index("ix_invoices_credited")
        batch.drop_constraint("uq_invoice_series_seq", "unique")
        batch.create_unique_constraint("uq_invoice_run_seq", ["run_id", "seq"])
        batch.create_unique_constraint("uq_invoice_subscriber_period", ["subscriber_id", "period"])
        batch.drop_constraint("fk_invoices_credited", "foreignkey")
        for column in (
            "reason",
            "credited_invoice_id",
            "bill_exemption_reason",
            "bill_tax_category",
            "bill_email",
            "bill_buyer_reference",
            "bill_einvoice",
            "bill_vat_id",
            "bill_locale",
            "bill_country",
            "bill_address",
            "bill_company",
            "bill_name",
            "kind",
        ):
            batch.drop_column(column)
    with op.batch_alter_table("billing_runs", naming_convention=_NAMING) as batch:
        batch.drop_constraint("uq_run_period_seq", "unique")
        batch.create_unique_constraint(
            "uq_billing_runs_period" if sqlite else "billing_runs_period_key", ["period"]
        )
        batch.drop_column("kind")
        batch.drop_column("seq")
    with op.batch_alter_table("subscribers") as batch:
        for column in (
            "exemption_reason",
            "tax_category",
            "einvoice",
            "buyer_reference",
            "vat_id",
            "company",
        ):
            batch.drop_column(column)
