"""print-ready output: the files of a run's merged output (its volumes)

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-01

A run merged with INVOICING_VOLUME_MAX_PAGES writes several files; each gets a row
(path, sha256, pages, invoices). A new table only: existing runs keep their one file in
billing_runs.output_path and simply have no volume rows until they are merged again.
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "run_volumes",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column(
            "run_id", sa.Integer(), sa.ForeignKey("billing_runs.id", ondelete="CASCADE"), nullable=False
        ),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("output_path", sa.String(1024), nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("pages", sa.Integer(), nullable=False),
        sa.Column("invoices", sa.Integer(), nullable=False),
        sa.UniqueConstraint("run_id", "number", name="uq_run_volume_number"),
    )


def downgrade() -> None:
    op.drop_table("run_volumes")
