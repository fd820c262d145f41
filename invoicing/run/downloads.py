"""What a run and an invoice hand out to the HTTP API and the dashboard: a run's files by
name (the merged file, its volumes, the print shop's manifests), an invoice's data and
state, and its recorded bytes.

A file is found by its name among the ones the database records for the run, never by
joining a name the client sent to a folder: a name that is not one of them (`..`,
`/etc/passwd`, another run's file) is simply not there.
"""

from __future__ import annotations

import posixpath
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import aliased

from invoicing.billing.void import record_fetched
from invoicing.db import session_scope
from invoicing.errors import BillingError, InvoicingError
from invoicing.models import BillingRun, Invoice, Subscriber
from invoicing.run.printing import manifest_paths
from invoicing.storage import ChecksumMismatch, StorageError, read

MEDIA_TYPES = {".pdf": "application/pdf", ".json": "application/json", ".csv": "text/csv; charset=utf-8"}


class FileDamaged(InvoicingError):
    """A recorded file is missing or its bytes are not the ones recorded."""


class NotRendered(InvoicingError):
    """The document has no file yet: it is pending, or it failed to render."""


@dataclass(frozen=True)
class RunFile:
    name: str  # its file name, the last part of the URL
    location: str
    sha256: str | None  # recorded (merged file, volumes); None for a manifest
    media_type: str


def file_name(location: str) -> str:
    return posixpath.basename(location.replace("\\", "/"))


def run_files(run_id: int) -> list[RunFile]:
    """The run's merged file (or volumes) and their manifests; none before it is merged."""
    with session_scope() as session:
        run = session.get(BillingRun, run_id)
        if run is None:
            raise BillingError(f"no billing run {run_id}")
        merged = [(run.output_path, run.sha256)] if run.output_path else []
        merged += [(v.output_path, v.sha256) for v in run.volumes if v.output_path != run.output_path]
        files = [(location, sha) for location, sha in merged if location]
        if run.output_path:
            files += [(manifest, None) for manifest in manifest_paths(run.output_path)]
    return [
        RunFile(file_name(location), location, sha, MEDIA_TYPES[posixpath.splitext(location)[1]])
        for location, sha in files
    ]


def run_file(run_id: int, name: str) -> RunFile | None:
    return next((f for f in run_files(run_id) if f.name == name), None)


def invoice_details(number: str) -> dict[str, Any]:
    """An invoice's or credit note's data and state, as issued (money as strings)."""
    with session_scope() as session:
        credited = aliased(Invoice)
        row = session.execute(
            select(Invoice, Subscriber.account, credited.number)
            .join(Subscriber, Subscriber.id == Invoice.subscriber_id)
            .outerjoin(credited, credited.id == Invoice.credited_invoice_id)
            .where(Invoice.number == number)
        ).one_or_none()
        if row is None:
            raise BillingError(f"no invoice or credit note {number}")
        invoice, account, credits = row
        notes = session.execute(
            select(Invoice.number, Invoice.total).where(Invoice.credited_invoice_id == invoice.id)
        ).all()
        return {
            "number": invoice.number,
            "kind": invoice.kind.value,
            "run_id": invoice.run_id,
            "period": invoice.period,
            "account": account,
            "status": invoice.status.value,
            "void": invoice.voided_at is not None,
            "issue_date": invoice.issue_date.isoformat(),
            "due_date": invoice.due_date.isoformat(),
            "currency": invoice.currency,
            "subtotal": str(invoice.subtotal),
            "tax_rate": str(invoice.tax_rate),
            "tax": str(invoice.tax),
            "total": str(invoice.total),
            "bill_to": {
                "name": invoice.bill_name,
                "company": invoice.bill_company,
                "address": list(invoice.bill_address),
                "country": invoice.bill_country,
                "vat_id": invoice.bill_vat_id,
            },
            "lines": [
                {
                    "description": line.description,
                    "quantity": str(line.quantity),
                    "unit_price": str(line.unit_price),
                    "amount": str(line.amount),
                }
                for line in invoice.lines
            ],
            "credits": credits,
            "reason": invoice.reason,
            "credit_notes": [{"number": n, "total": str(total)} for n, total in notes],
            "pages": invoice.pages,
            "sha256": invoice.sha256,
            "error": invoice.error,
        }


def invoice_pdf(number: str, how: str) -> bytes:
    """The invoice's recorded bytes, checked against the recorded sha256; the fetch is
    recorded as `invoicing render` records it, `how` naming the way it left (from then on
    its run cannot be voided)."""
    with session_scope() as session:
        row = session.execute(
            select(Invoice.pdf_path, Invoice.sha256).where(Invoice.number == number)
        ).one_or_none()
    if row is None:
        raise BillingError(f"no invoice or credit note {number}")
    path, sha256 = row
    if not path or not sha256:
        raise NotRendered(f"{number} has no file yet: it is not rendered")
    try:
        pdf = read(path, sha256)
    except ChecksumMismatch:
        raise FileDamaged(f"the file of {number} is not the one issued (sha256 differs)") from None
    except (OSError, StorageError):
        raise FileDamaged(f"the file of {number} is missing") from None
    with session_scope() as session:
        record_fetched(session, number, how)
    return pdf
