"""one subscriber never sinks a run: the subscribers a run skipped, and why

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-06

A subscriber whose invoice the run cannot hold (an amount beyond the largest one, more
lines than INVOICING_MAX_LINES: data imported before the importer refused it) is skipped
with the reason, and everybody else is billed. A new table only: earlier runs skipped
nobody.
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "run_skips",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column(
            "run_id", sa.Integer(), sa.ForeignKey("billing_runs.id", ondelete="CASCADE"), nullable=False
        ),
        sa.Column("subscriber_id", sa.Integer(), sa.ForeignKey("subscribers.id"), nullable=False),
        sa.Column("account", sa.String(64), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.UniqueConstraint("run_id", "subscriber_id", name="uq_run_skip_subscriber"),
    )


def downgrade() -> None:
    op.drop_table("run_skips")
