"""The print shop's file of what e-mail did not deliver: a run's e-mail-only invoices
that bounced or failed, in number order, in one PDF (`invoicing merge --undelivered`).

Their stored files are read and checked against the recorded sha256, as every merge
does; invoices with channel `both` are in the run's print file already.
"""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import select

from invoicing.billing.void import record_released
from invoicing.db import session_scope
from invoicing.errors import BillingError
from invoicing.models import BillingRun, Channel, Delivery, DeliveryState, Invoice
from invoicing.pdf import Merged, Part, merge_pdfs
from invoicing.storage import read

UNDELIVERED = (DeliveryState.BOUNCED, DeliveryState.FAILED)


def merge_undelivered(run_id: int, output: Path) -> tuple[Merged, int]:
    """Write the file; returns it and how many invoices it holds. BillingError (exit 2,
    nothing written) for an unknown run or one with nothing undelivered."""
    with session_scope() as session:
        if session.get(BillingRun, run_id) is None:
            raise BillingError(f"no billing run {run_id}")
        rows = session.execute(
            select(Invoice.id, Invoice.number, Invoice.bill_name, Invoice.pdf_path, Invoice.sha256)
            .join(Delivery, Delivery.invoice_id == Invoice.id)
            .where(
                Delivery.run_id == run_id,
                Delivery.state.in_(UNDELIVERED),
                Invoice.bill_channel == Channel.EMAIL.value,
            )
            .order_by(Invoice.seq)
        ).all()
    if not rows:
        raise BillingError(
            f"billing run {run_id} has no e-mail-only invoice that bounced or failed; nothing written"
        )
    checks = {row.pdf_path: row.sha256 for row in rows}
    parts = [Part(row.pdf_path, f"{row.number} — {row.bill_name}", row.number) for row in rows]
    merged = merge_pdfs(parts, output, read_part=lambda part: read(str(part.path), checks[str(part.path)]))
    with session_scope() as session:
        record_released(session, [row.id for row in rows], "merge")
    return merged, len(rows)
