"""invoices reach their subscribers: a channel per subscriber and invoice, a delivery per e-mail

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-06

A subscriber's `channel` (print, email, both) is copied onto each invoice issued to him
(`bill_channel`), like the rest of the bill-to: the run's print file holds the invoices
whose channel includes print. Every row that exists is print, today's behaviour.
`deliveries` holds one row per invoice sent by e-mail: its state, the server's reply, a
bounce's status and diagnostic code.
"""

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

_STATES = ("pending", "sending", "sent", "deferred", "failed", "bounced")


def upgrade() -> None:
    with op.batch_alter_table("subscribers") as batch:
        batch.add_column(sa.Column("channel", sa.String(8), nullable=False, server_default="print"))
    with op.batch_alter_table("invoices") as batch:
        batch.add_column(sa.Column("bill_channel", sa.String(8), nullable=False, server_default="print"))
    op.create_table(
        "deliveries",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("invoice_id", sa.Integer(), nullable=False),
        sa.Column("run_id", sa.Integer(), nullable=False),
        sa.Column(
            "state",
            sa.Enum(*_STATES, name="delivery_state", native_enum=False, length=32),
            nullable=False,
        ),
        sa.Column("recipient", sa.String(254), nullable=False),
        sa.Column("message_id", sa.String(300), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("claimed_by", sa.String(64), nullable=True),
        sa.Column("reply", sa.Text(), nullable=True),
        sa.Column("bounce_status", sa.String(32), nullable=True),
        sa.Column("bounce_diagnostic", sa.Text(), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["invoice_id"], ["invoices.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["run_id"], ["billing_runs.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("invoice_id"),
    )
    op.create_index("ix_deliveries_run_state", "deliveries", ["run_id", "state"])
    op.create_index("ix_deliveries_message_id", "deliveries", ["message_id"])


def downgrade() -> None:
    op.drop_index("ix_deliveries_message_id", table_name="deliveries")
    op.drop_index("ix_deliveries_run_state", table_name="deliveries")
    op.drop_table("deliveries")
    with op.batch_alter_table("invoices") as batch:
        batch.drop_column("bill_channel")
    with op.batch_alter_table("subscribers") as batch:
        batch.drop_column("channel")
