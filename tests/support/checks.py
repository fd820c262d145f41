"""The billing run's guarantees, checked on the files themselves: one assertion function
per guarantee, and `assert_run_consistent` for all of them at once."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

from pypdf import PdfReader

from invoicing.models import Invoice, InvoiceStatus
from invoicing.pdf.merge import Part, merge_pdfs
from tests.support.runs import invoices_of, names_by_subscriber


def pdf_outline(path: Path) -> list[str]:
    """The titles of a PDF's top-level bookmarks."""
    return [item.title for item in PdfReader(path).outline]


def assert_billed_once(summary: dict[str, Any], invoices: list[Invoice], expected: int, failed: int) -> None:
    """One invoice per billable subscriber, numbered 1..N without gaps; all but the
    failed ones rendered."""
    period = summary["period"]
    assert len(invoices) == expected == summary["invoices"]
    assert [i.seq for i in invoices] == list(range(1, expected + 1))
    assert [i.number for i in invoices] == [f"INV-{period}-{n:06d}" for n in range(1, expected + 1)]
    assert len({i.subscriber_id for i in invoices}) == expected
    rendered = [i for i in invoices if i.status == InvoiceStatus.RENDERED]
    assert len(rendered) == expected - failed == expected - summary["failed"]


def assert_files_match_rows(rendered: list[Invoice]) -> None:
    """Every invoice file is what the database says it is: sha256, name, pages."""
    for invoice in rendered:
        data = Path(invoice.pdf_path).read_bytes()
        assert hashlib.sha256(data).hexdigest() == invoice.sha256
        assert Path(invoice.pdf_path).name == f"{invoice.number}.pdf"
        assert len(PdfReader(invoice.pdf_path).pages) == invoice.pages


def assert_merged_file_matches(summary: dict[str, Any], rendered: list[Invoice]) -> None:
    """The merged file holds every rendered invoice exactly once, in number order,
    bookmarked and page-labelled, and is the file the summary's sha256 names."""
    merged = Path(summary["output"])
    assert merged.name == f"billing-run-{summary['run_id']}.pdf"
    assert hashlib.sha256(merged.read_bytes()).hexdigest() == summary["sha256"]
    reader = PdfReader(merged)
    names = names_by_subscriber()
    assert pdf_outline(merged) == [f"{i.number} — {names[i.subscriber_id]}" for i in rendered]
    assert len(reader.pages) == summary["pages"] == sum(i.pages for i in rendered)
    page = 0
    for invoice in rendered:
        assert invoice.number in reader.pages[page].extract_text()
        assert reader.page_labels[page] == f"{invoice.number} p.1"
        page += invoice.pages


def assert_fragments_kept_until_complete(summary: dict[str, Any], rendered: list[Invoice]) -> None:
    """The header's pre-linked fragments are kept for `retry` until the run is complete."""
    fragments = Path(summary["output"]).parent / ".prelinked"
    if summary["status"] == "completed":
        assert not fragments.exists()
    elif rendered:
        assert any(fragments.glob("*.frag"))


def assert_run_consistent(summary: dict[str, Any], expected_invoices: int, failed: int = 0) -> None:
    """Every guarantee above, for the run `summary` describes."""
    invoices = invoices_of(summary["run_id"])
    assert_billed_once(summary, invoices, expected_invoices, failed)
    rendered = [i for i in invoices if i.status == InvoiceStatus.RENDERED]
    assert_files_match_rows(rendered)
    assert_merged_file_matches(summary, rendered)
    assert_fragments_kept_until_complete(summary, rendered)


def assert_same_as_parsing_every_file(summary: dict[str, Any], folder: Path) -> None:
    """The body linked fragments; parsing every invoice file instead gives the same bytes."""
    names = names_by_subscriber()
    parts = [
        Part(Path(i.pdf_path), f"{i.number} — {names[i.subscriber_id]}", i.number)
        for i in invoices_of(summary["run_id"])
        if i.status == InvoiceStatus.RENDERED
    ]
    merged = merge_pdfs(parts, folder / Path(summary["output"]).name)
    assert merged.prelinked == 0 and merged.sha256 == summary["sha256"]
