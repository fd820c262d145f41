"""`invoicing export`: a run's single invoices in one ZIP, with an index for accountants
and archives.

The ZIP holds each rendered invoice as `<number>.pdf`, in number order, and `index.csv`
(number, account, name, total, currency, file, sha256), every cell as a spreadsheet
shows and never runs it (`untrusted.spreadsheet_cell`: the name cleaned as on the
invoice, a leading apostrophe before what would start a formula). Every file's bytes are checked
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
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any, BinaryIO

from sqlalchemy import select

from invoicing.billing.money import minor_unit
from invoicing.config import Settings, get_settings
from invoicing.db import session_scope
from invoicing.errors import BillingError, UsageError
from invoicing.files import atomic_file, file_sha256
from invoicing.models import BillingRun, Invoice, InvoiceStatus, Subscriber
from invoicing.run.outputs import output_refusal
from invoicing.storage import ChecksumMismatch, StorageError, read
from invoicing.untrusted import spreadsheet_cell

INDEX_NAME = "index.csv"
INDEX_COLUMNS = ("number", "account", "name", "total", "currency", "file", "sha256")
_ROWS_PER_FETCH = 500
_SPOOL = 1 << 20  # the index stays in memory up to this size, then on disk
_FILE_MODE = 0o644 << 16  # unzip gives the members the permissions of the run's files
_ZIP_EPOCH = (1980, 1, 1, 0, 0, 0)  # the earliest time a ZIP member can carry


class ExportError(UsageError):
    """A run that cannot be exported as asked; nothing was written (exit code 2)."""


@dataclass(frozen=True)
class ExportSummary:
    run_id: int
    period: str
    output: str
    invoices: int
    bytes: int
    sha256: str
    totals: dict[str, str]  # per currency, as decimal strings

    def as_dict(self) -> dict[str, Any]:
        """`invoicing export --json`."""
        return {
            "run_id": self.run_id,
            "period": self.period,
            "output": self.output,
            "invoices": self.invoices,
            "bytes": self.bytes,
            "sha256": self.sha256,
            "totals": self.totals,
        }


@dataclass(frozen=True)
class _Row:
    number: str
    account: str
    name: str
    total: Decimal
    currency: str
    location: str
    sha256: str
    rendered_at: datetime | None


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
    """The total as the invoice prints its digits: the currency's minor unit ("119.00",
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
    """Write run `run_id`'s rendered invoices and their index into the ZIP `output`."""
    check_output(output, force, settings or get_settings())
    with session_scope() as session:
        run = session.get(BillingRun, run_id)
        if run is None:
            raise BillingError(f"no billing run {run_id}")
        period = run.period
        rows = _rendered(session, run_id)
        first = next(rows, None)
        if first is None:
            raise ExportError(f"billing run {run_id} has no rendered invoices to export; nothing was written")
        with atomic_file(output) as handle:
            count, totals = _write_zip(handle, _chain(first, rows))
    digest, size = file_sha256(output)
    return ExportSummary(
        run_id=run_id,
        period=period,
        output=str(output.resolve()),
        invoices=count,
        bytes=size,
        sha256=digest,
        totals={currency: str(amount) for currency, amount in sorted(totals.items())},
    )


def _write_zip(handle: BinaryIO, rows: Iterator[_Row]) -> tuple[int, dict[str, Decimal]]:
    """Each invoice as a member as it comes, then the index: (invoices, totals per currency)."""
    count, totals, latest = 0, dict[str, Decimal](), _ZIP_EPOCH
    with (
        tempfile.SpooledTemporaryFile(_SPOOL, mode="w+t", encoding="utf-8", newline="") as index,
        zipfile.ZipFile(handle, "w", allowZip64=True) as archive,
    ):
        writer = csv.writer(index, lineterminator="\r\n")  # RFC 4180, as spreadsheets expect
        writer.writerow(INDEX_COLUMNS)
        for row in rows:
            member, when = _member_name(row.number), _zip_time(row.rendered_at)
            archive.writestr(_entry(member, when), _stored_bytes(row.location, row.sha256))
            total = shown_total(row.total, row.currency)
            writer.writerow(
                map(
                    spreadsheet_cell,
                    (row.number, row.account, row.name, total, row.currency, member, row.sha256),
                )
            )
            totals[row.currency] = totals.get(row.currency, Decimal(0)) + Decimal(total)
            latest = max(latest, when)
            count += 1
        index.seek(0)
        with archive.open(_entry(INDEX_NAME, latest), "w") as member_handle:
            for block in iter(lambda: index.read(1 << 16), ""):
                member_handle.write(block.encode("utf-8"))
    return count, totals


def _rendered(session: Any, run_id: int) -> Iterator[_Row]:
    """The run's rendered invoices in number order, fetched a few hundred at a time."""
    result = session.execute(
        select(
            Invoice.number,
            Subscriber.account,
            Invoice.bill_name,
            Invoice.total,
            Invoice.currency,
            Invoice.pdf_path,
            Invoice.sha256,
            Invoice.rendered_at,
        )
        .join(Subscriber, Subscriber.id == Invoice.subscriber_id)
        .where(Invoice.run_id == run_id, Invoice.status == InvoiceStatus.RENDERED)
        .order_by(Invoice.seq)
        .execution_options(yield_per=_ROWS_PER_FETCH)
    )
    for number, account, name, total, currency, location, sha256, rendered_at in result:
        if not location or not sha256:
            raise ExportError(f"invoice {number} is rendered but has no file recorded; nothing was written")
        yield _Row(number, account, name, total, currency, location, sha256, rendered_at)


def _chain(first: _Row, rest: Iterator[_Row]) -> Iterator[_Row]:
    yield first
    yield from rest


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


__all__ = ["INDEX_COLUMNS", "INDEX_NAME", "ExportError", "ExportSummary", "export_run"]
