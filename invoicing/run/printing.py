"""A run's print-ready output: the settings that shape it, its job ticket, its volumes.

INVOICING_PRINT_DUPLEX and INVOICING_VOLUME_MAX_PAGES become a `PrintLayout` for the
merge (pdf/volumes.py). Beside the merged file(s) the body writes the print shop's job
ticket, `<merged name>-manifest.json` and `-manifest.csv`: one row per invoice with its
number, account, volume (number and file), first page in that file, pages and sheets
(pages / 2 rounded up under duplex, else pages), streamed as the merge places each
invoice, and renamed into place only once the merge has succeeded. Every CSV cell goes
through the spreadsheet guard (`untrusted.spreadsheet_cell`), as the export's index does.

A volume size below one invoice's pages is refused before anything is dispatched when
the run's invoices' page counts are known (`check_volume_size`, from `retry` and the
resuming paths), and otherwise by the body before it writes anything
(`volume_too_small`); the merge itself refuses as a last resort.
"""

from __future__ import annotations

import csv
import io
import json
from contextlib import ExitStack
from pathlib import Path
from typing import Any, BinaryIO

from sqlalchemy import select
from sqlalchemy.orm import Session

from invoicing.billing import BillingError
from invoicing.config import Settings
from invoicing.errors import plural
from invoicing.models import BillingRun, Invoice, InvoiceStatus, RunVolume
from invoicing.pdf import Merged, Part, Placement, PrintLayout, volume_path
from invoicing.storage import Store
from invoicing.untrusted import spreadsheet_cell

__all__ = [
    "Manifest",
    "check_volume_size",
    "earlier_volumes",
    "layout_of",
    "manifest_paths",
    "record_volumes",
    "remove_stale_volumes",
    "volume_too_small",
]

COLUMNS = ("number", "account", "volume", "file", "first_page", "pages", "sheets")


def layout_of(settings: Settings) -> PrintLayout:
    return PrintLayout(duplex=settings.print_duplex, max_pages=settings.volume_max_pages)


def manifest_paths(output: str) -> tuple[str, str]:
    """billing-run-7.pdf -> billing-run-7-manifest.json, billing-run-7-manifest.csv (a
    location string: a Path would fold the "//" of s3://bucket/key)."""
    stem = output[: -len(".pdf")] if output.endswith(".pdf") else output
    return f"{stem}-manifest.json", f"{stem}-manifest.csv"


def _too_small(layout: PrintLayout, number: str | None, pages: int | None) -> str | None:
    if number is None or pages is None or not layout.too_small_for(pages):
        return None
    padded = " with its duplex blank page" if layout.span(pages) > pages else ""
    return (
        f"INVOICING_VOLUME_MAX_PAGES={layout.max_pages} is below one invoice's pages: "
        f"{number} takes {plural(layout.span(pages), 'page')}{padded}"
    )


def volume_too_small(
    session: Session, run_id: int, settings: Settings, status: InvoiceStatus | None = None
) -> str | None:
    """Why the run's longest invoice (with a known page count) fits no volume, or None."""
    layout = layout_of(settings)
    if not layout.max_pages:
        return None
    query = select(Invoice.number, Invoice.pages).where(Invoice.run_id == run_id, Invoice.pages.is_not(None))
    if status is not None:
        query = query.where(Invoice.status == status)
    row = session.execute(query.order_by(Invoice.pages.desc(), Invoice.seq).limit(1)).first()
    return None if row is None else _too_small(layout, row.number, row.pages)


def check_volume_size(session: Session, run_id: int, settings: Settings) -> None:
    """Refuse (BillingError, exit 2) before dispatch a volume size one of the run's
    invoices cannot fit in."""
    problem = volume_too_small(session, run_id, settings)
    if problem is not None:
        raise BillingError(f"{problem}; nothing was dispatched")


class Manifest:
    """The job ticket, written while the merge places the invoices (`placed`), kept as
    temp files until `commit` renames them into place, and discarded on `abort`."""

    def __init__(self, store: Store, run_id: int, period: str, kind: str, output: str, layout: PrintLayout):
        self.layout = layout
        self.output = output
        self.json_path, self.csv_path = manifest_paths(output)
        self._stack = ExitStack()
        self._json: BinaryIO = self._stack.enter_context(store.writer(self.json_path))
        self._csv: BinaryIO = self._stack.enter_context(store.writer(self.csv_path))
        self._line = io.StringIO()
        self._writer = csv.writer(self._line, lineterminator="\r\n")
        self._rows = 0
        self._csv_row(COLUMNS)
        head = {
            "run_id": run_id,
            "period": period,
            "kind": kind,
            "duplex": layout.duplex,
            "volume_max_pages": layout.max_pages or None,
        }
        self._json.write(json.dumps(head, ensure_ascii=False)[:-1].encode() + b', "invoices": [')

    def sheets(self, pages: int) -> int:
        return -(-pages // 2) if self.layout.duplex else pages

    def _csv_row(self, values: tuple[Any, ...]) -> None:
        self._writer.writerow(map(spreadsheet_cell, values))  # an account may start like a formula
        self._csv.write(self._line.getvalue().encode())
        self._line.seek(0)
        self._line.truncate()

    def placed(self, part: Part, where: Placement) -> None:
        file = _name(volume_path(self.output, where.volume) if self.layout.max_pages else self.output)
        row = (
            part.label,
            part.account,
            where.volume,
            file,
            where.first_page,
            where.pages,
            self.sheets(where.pages),
        )
        self._csv_row(row)
        entry = json.dumps(dict(zip(COLUMNS, row, strict=True)), ensure_ascii=False).encode()
        self._json.write((b",\n" if self._rows else b"\n") + entry)
        self._rows += 1

    def commit(self, merged: Merged) -> None:
        volumes = [
            {
                "volume": v.number,
                "file": _name(v.path),
                "pages": v.pages,
                "sheets": self.sheets(v.pages),
                "invoices": v.invoices,
                "sha256": v.sha256,
            }
            for v in merged.volumes
        ]
        sheets = sum(self.sheets(v.pages) for v in merged.volumes)
        tail = {"volumes": volumes, "pages": merged.pages, "sheets": sheets}
        self._json.write(b"\n], " + json.dumps(tail, ensure_ascii=False)[1:].encode() + b"\n")
        self._stack.close()

    def abort(self, exc: BaseException) -> None:
        """Remove the temp files (the merge failed: no ticket for files that are not there)."""
        try:
            self._stack.__exit__(type(exc), exc, exc.__traceback__)
        except OSError:
            pass  # closing them failed too (a full disk): they are removed all the same


def record_volumes(session: Session, run: BillingRun, merged: Merged | None) -> None:
    """The run's volume rows: those of `merged`, or none."""
    run.volumes.clear()
    session.flush()
    for volume in merged.volumes if merged is not None else ():
        run.volumes.append(
            RunVolume(
                number=volume.number,
                output_path=str(volume.path),
                sha256=volume.sha256,
                pages=volume.pages,
                invoices=volume.invoices,
            )
        )


def earlier_volumes(store: Store, output: str) -> list[str]:
    """The volume files of the run whose merged file is `output` that are there now.

    Only the run's volumes are listed, not the period's folder: its invoice files made
    removing stale volumes the merge's slowest step after the last batch at 20,000
    invoices (94 ms of 0.44 s; 24 ms so, bench at load average 3), growing with them."""
    folder, _, name = output.rpartition("/")
    stem, _, suffix = name.rpartition(".")
    return store.list(folder, f".{suffix}", start=f"{stem}-vol-")


def remove_stale_volumes(store: Store, output: str, merged: Merged, earlier: list[str] | None = None) -> None:
    """Files of an earlier merge of the run that this one did not write again (the run
    now has fewer volumes, none, or volumes instead of one file): left in place they
    would read as part of the run. `earlier`: the run's volumes as listed before this
    merge wrote any (`earlier_volumes`, by a merge holding the run's merge lease, so
    only an earlier merge's are there), else they are listed now."""
    keep = {str(volume.path) for volume in merged.volumes}
    if earlier is None:
        earlier = earlier_volumes(store, output)
    for location in [*earlier, output]:
        if location not in keep:
            store.remove(location)


def _name(location: Path | str) -> str:
    """The file name of a path or an object's location."""
    return str(location).rpartition("/")[2]
