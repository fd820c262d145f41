"""who merges a run now: a lease on the run's row (the merge ahead or the chord body)

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-06

`merge_lease` holds the holder's token, `merge_lease_until` when it lapses unless the
holder renews it (run/lease.py). Both null: nobody merges the run. New nullable columns;
every run that exists has none.
"""

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("billing_runs") as batch:
        batch.add_column(sa.Column("merge_lease", sa.String(64), nullable=True))
        batch.add_column(sa.Column("merge_lease_until", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("billing_runs") as batch:
        batch.drop_column("merge_lease_until")
        batch.drop_column("merge_lease")
