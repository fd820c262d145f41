"""`invoicing export`: a run's single invoices in one ZIP, with an index for accountants
and archives.

The ZIP holds each rendered invoice as `<number>.pdf`, in number order, then the credit
notes that correct them, and `index.csv`: one row per document, what an accountant books
from it (the bill-to company apart from its contact, the seller's and the buyer's VAT
ids, net, tax and total; a credit note with its negative amounts and the number of the
invoice it credits), every cell as a spreadsheet shows and never runs it
(`untrusted.spreadsheet_cell`: names cleaned as on the invoice, a leading apostrophe
before what would start a formula).

`export RUN_ID` takes the run's documents and the credit notes issued since against its
invoices (or, for a credit run, its one credit note); `export --period P` every run of
the period in one ZIP: all its invoices (the run's and its supplements') and all its
credit notes, so the period's totals in the summary are what it finally bills. Every file's bytes are checked
against the sha256 recorded when it was rendered before they go in: an archive never
carries a file that is not the one the run issued. A missing or changed file stops the
export and nothing is written (the ZIP is built in a temp file that is renamed into
place only when complete, files.atomic_file).

Memory stays flat in the run's size: the rows are streamed from the database, each PDF
is read, checked, written as its own member and dropped, and the index is spooled to a
temp file until the end.

Members are DEFLATED, PDFs too: the renderer compresses page content but not all of a
file (the fixtures' invoices deflate by 32 %, at 0.6 ms each on this project's machine,
a small fraction of rendering one), so an archive of a large run is a third smaller for
little CPU. ZIP_STORED would only pay for files that are compressed through and through.

The ZIP is deterministic: member times are the invoices' render times, so exporting a
run twice gives the same bytes.
"""

from __future__ import annotations

import csv
import tempfile
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any, BinaryIO

from sqlalchemy import select
from sqlalchemy.orm import aliased

from invoicing.billing.money import minor_unit
from invoicing.billing.void import record_exported
from invoicing.config import Settings, get_settings
from invoicing.db import session_scope
from invoicing.errors import BillingError, UsageError
from invoicing.files import atomic_file, file_sha256
from invoicing.models import BillingRun, DocumentKind, Invoice, InvoiceStatus, Subscriber
from invoicing.run.outputs import output_refusal
from invoicing.storage import ChecksumMismatch, StorageError, read
from invoicing.untrusted import spreadsheet_cell

INDEX_NAME = "index.csv"
INDEX_COLUMNS = (
    "number",
    "type",
    "issue_date",
    "credits",
    "account",
    "company",
    "contact",
    "seller_vat_id",
    "buyer_vat_id",
    "net",
    "tax",
    "total",
    "currency",
    "file",
    "sha256",
)
_ROWS_PER_FETCH = 500
_SPOOL = 1 << 20  # the index stays in memory up to this size, then on disk
_FILE_MODE = 0o644 << 16  # unzip gives the members the permissions of the run's files
_ZIP_EPOCH = (1980, 1, 1, 0, 0, 0)  # the earliest time a ZIP member can carry


class ExportError(UsageError):
    """A run that cannot be exported as asked; nothing was written (exit code 2)."""


@dataclass(frozen=True)
class ExportSummary:
    run_id: int | None  # None for a period's export
    period: str
    output: str
    invoices: int
    bytes: int
    sha256: str
    totals: dict[str, str]  # per currency, credit notes deducted, as decimal strings
    credit_notes: int = 0
    runs: tuple[int, ...] = ()  # the runs whose documents it holds

    def as_dict(self) -> dict[str, Any]:
        """`invoicing export --json`."""
        return {
            "run_id": self.run_id,
            "period": self.period,
            "runs": list(self.runs),
            "output": self.output,
            "invoices": self.invoices,
            "credit_notes": self.credit_notes,
            "bytes": self.bytes,
            "sha256": self.sha256,
            "totals": self.totals,
        }


@dataclass(frozen=True)
class _Row:
    number: str
    kind: DocumentKind
    issue_date: date
    credits: str  # the number of the invoice a credit note corrects; "" for an invoice
    account: str
    company: str
    contact: str
    buyer_vat_id: str
    net: Decimal
    tax: Decimal
    total: Decimal
    currency: str
    location: str
    sha256: str
    rendered_at: datetime | None
    run_id: int


def _stored_bytes(location: str, sha256: str) -> bytes:
    """One invoice's bytes from where the run stored them (a local folder or object
    storage), checked against the sha256 recorded when it was rendered."""
    try:
        return read(location, sha256)
    except ChecksumMismatch:
        raise ExportError(
            f"{location}: its sha256 is not the one recorded when it was rendered; nothing was written"
        ) from None
    except FileNotFoundError:
        raise ExportError(f"{location}: missing; nothing was written") from None
    except StorageError as exc:
        if exc.missing:
            raise ExportError(f"{location}: missing; nothing was written") from None
        if exc.transient:
            raise
        raise ExportError(f"{location}: cannot read: {exc}; nothing was written") from None
    except OSError as exc:
        raise ExportError(f"{location}: cannot read: {exc.strerror or exc}; nothing was written") from None


def shown_total(total: Decimal, currency: str) -> str:
    """An amount as the invoice prints its digits: the currency's minor unit ("119.00",
    JPY "1200"); the database may hand back more decimals (NUMERIC(18, 4))."""
    return str(total.quantize(minor_unit(currency)))


def check_output(output: Path, force: bool, settings: Settings) -> None:
    """Refuse, before any work, an output that cannot be written or would replace a
    run's file (run/outputs.py)."""
    problem = output_refusal(output, force, settings)
    if problem is not None:
        raise ExportError(problem)


def export_run(
    run_id: int, output: Path, force: bool = False, settings: Settings | None = None
) -> ExportSummary:
    """Write run `run_id`'s rendered invoices, the credit notes against them and their
    index into the ZIP `output`."""
    settings = settings or get_settings()
    check_output(output, force, settings)
    with session_scope() as session:
        run = session.get(BillingRun, run_id)
        if run is None:
            raise BillingError(f"no billing run {run_id}")
        period = run.period
        of_run = select(Invoice.id).where(Invoice.run_id == run_id).scalar_subquery()
        wanted = (Invoice.run_id == run_id) | (Invoice.credited_invoice_id.in_(of_run))
        count, credit_notes, totals, runs = _export(
            session, wanted, output, settings, f"billing run {run_id} has no rendered invoices to export"
        )
    return _summary(run_id, period, output, count, credit_notes, totals, runs)


def export_period(
    period: str, output: Path, force: bool = False, settings: Settings | None = None
) -> ExportSummary:
    """Write every run of `period` (the run, its supplements, its credit notes) into
    the ZIP `output`: all its rendered invoices and credit notes and one index."""
    settings = settings or get_settings()
    check_output(output, force, settings)
    with session_scope() as session:
        if session.scalar(select(BillingRun.id).where(BillingRun.period == period).limit(1)) is None:
            raise BillingError(f"no billing run for {period}: `invoicing runs` lists the periods billed")
        nothing = f"{period} has no rendered invoices to export"
        wanted = Invoice.period == period
        count, credit_notes, totals, runs = _export(session, wanted, output, settings, nothing)
    return _summary(None, period, output, count, credit_notes, totals, runs)


def _export(
    session: Any, wanted: Any, output: Path, settings: Settings, nothing: str
) -> tuple[int, int, dict[str, Decimal], tuple[int, ...]]:
    documents = _chain(
        _rendered(session, wanted, DocumentKind.INVOICE), _rendered(session, wanted, DocumentKind.CREDIT_NOTE)
    )
    first = next(documents, None)
    if first is None:
        raise ExportError(f"{nothing}; nothing was written")
    rows = _chain(iter([first]), documents)
    with atomic_file(output) as handle:
        written = _write_zip(handle, rows, settings.seller_vat_id)
    record_exported(session, wanted)
    return written


def _summary(
    run_id: int | None,
    period: str,
    output: Path,
    count: int,
    credit_notes: int,
    totals: dict[str, Decimal],
    runs: tuple[int, ...],
) -> ExportSummary:
    digest, size = file_sha256(output)
    return ExportSummary(
        run_id=run_id,
        period=period,
        output=str(output.resolve()),
        invoices=count,
        credit_notes=credit_notes,
        runs=runs,
        bytes=size,
        sha256=digest,
        totals={currency: str(amount) for currency, amount in sorted(totals.items())},
    )


def _write_zip(
    handle: BinaryIO, rows: Iterator[_Row], seller_vat_id: str
) -> tuple[int, int, dict[str, Decimal], tuple[int, ...]]:
    """Each document as a member as it comes, then the index: (invoices, credit notes,
    totals per currency with the credit notes deducted, the runs they came from)."""
    counts = {DocumentKind.INVOICE: 0, DocumentKind.CREDIT_NOTE: 0}
    totals, runs, latest = dict[str, Decimal](), set[int](), _ZIP_EPOCH
    with (
        tempfile.SpooledTemporaryFile(_SPOOL, mode="w+t", encoding="utf-8", newline="") as index,
        zipfile.ZipFile(handle, "w", allowZip64=True) as archive,
    ):
        writer = csv.writer(index, lineterminator="\r\n")  # RFC 4180, as spreadsheets expect
        writer.writerow(INDEX_COLUMNS)
        for row in rows:
            member, when = _member_name(row.number), _zip_time(row.rendered_at)
            archive.writestr(_entry(member, when), _stored_bytes(row.location, row.sha256))
            net, tax, total = (shown_total(amount, row.currency) for amount in (row.net, row.tax, row.total))
            cells = (
                row.number,
                row.kind.value,
                row.issue_date.isoformat(),
                row.credits,
                row.account,
                row.company,
                row.contact,
                seller_vat_id,
                row.buyer_vat_id,
                net,
                tax,
                total,
                row.currency,
                member,
                row.sha256,
            )
            writer.writerow(map(spreadsheet_cell, cells))
            totals[row.currency] = totals.get(row.currency, Decimal(0)) + Decimal(total)
            latest = max(latest, when)
            counts[row.kind] += 1
            runs.add(row.run_id)
        index.seek(0)
        with archive.open(_entry(INDEX_NAME, latest), "w") as member_handle:
            for block in iter(lambda: index.read(1 << 16), ""):
                member_handle.write(block.encode("utf-8"))
    return counts[DocumentKind.INVOICE], counts[DocumentKind.CREDIT_NOTE], totals, tuple(sorted(runs))


def _rendered(session: Any, wanted: Any, kind: DocumentKind) -> Iterator[_Row]:
    """The rendered documents of one kind that `wanted` selects, in number order (numbers
    are zero-padded: their order is the series'), fetched a few hundred at a time."""
    credited = aliased(Invoice)
    result = session.execute(
        select(
            Invoice.number,
            Invoice.issue_date,
            credited.number,
            Subscriber.account,
            Invoice.bill_company,
            Invoice.bill_name,
            Invoice.bill_vat_id,
            Invoice.subtotal,
            Invoice.tax,
            Invoice.total,
            Invoice.currency,
            Invoice.pdf_path,
            Invoice.sha256,
            Invoice.rendered_at,
            Invoice.run_id,
        )
        .join(Subscriber, Subscriber.id == Invoice.subscriber_id)
        .outerjoin(credited, credited.id == Invoice.credited_invoice_id)
        .where(wanted, Invoice.kind == kind, Invoice.status == InvoiceStatus.RENDERED)
        .order_by(Invoice.number)
        .execution_options(yield_per=_ROWS_PER_FETCH)
    )
    for (
        number,
        issue_date,
        credits,
        account,
        company,
        contact,
        vat_id,
        net,
        tax,
        total,
        currency,
        location,
        sha256,
        rendered_at,
        run_id,
    ) in result:
        if not location or not sha256:
            raise ExportError(f"{number} is rendered but has no file recorded; nothing was written")
        yield _Row(
            number,
            kind,
            issue_date,
            credits or "",
            account,
            company or "",
            contact,
            vat_id or "",
            net,
            tax,
            total,
            currency,
            location,
            sha256,
            rendered_at,
            run_id,
        )


def _chain(*parts: Iterator[_Row]) -> Iterator[_Row]:
    for part in parts:
        yield from part


def _member_name(number: str) -> str:
    # Numbers are prefix, period and sequence (run/paths.py checks them the same way).
    if "/" in number or "\\" in number or number.startswith("."):
        raise ExportError(f"invoice number {number!r} is not a safe file name")
    return f"{number}.pdf"


def _zip_time(moment: datetime | None) -> tuple[int, int, int, int, int, int]:
    """A ZIP member's local time field, in UTC (ZIP has no time zone)."""
    if moment is None:
        return _ZIP_EPOCH
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC)
    return max(_ZIP_EPOCH, (moment.year, moment.month, moment.day, moment.hour, moment.minute, moment.second))


def _entry(name: str, when: tuple[int, int, int, int, int, int]) -> zipfile.ZipInfo:
    info = zipfile.ZipInfo(name, date_time=when)
    info.compress_type = zipfile.ZIP_DEFLATED
    info.external_attr = _FILE_MODE
    return info


__all__ = ["INDEX_COLUMNS", "INDEX_NAME", "ExportError", "ExportSummary", "export_period", "export_run"]
