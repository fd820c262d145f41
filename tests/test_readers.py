"""Other readers take every file the renderer and the merge write without a word: qpdf's
structural check, MuPDF's `mutool info` and Ghostscript, each on one invoice of every
script, a credit note, a multi-page invoice, a hybrid e-invoice and the merged file of
them all. A warning from any of them is what a print shop's or a viewer's software would
also stumble on."""

from __future__ import annotations

import hashlib
import subprocess
from pathlib import Path

import pytest

from invoicing.pdf import Part, merge_pdfs, render_invoice
from invoicing.pdf.einvoice import render_einvoice
from tests.support.einvoices import german_company
from tests.support.factories import credit_note_of, invoice, line, synthetic_documents
from tests.support.tools import require_tool


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    folder = tmp_path_factory.mktemp("readers")
    first = {}
    for doc in synthetic_documents(600):
        first.setdefault(doc.country, doc)
    many_lines = (line("Business Fibre 500 — monthly fee", "1", "49.90", "49.90"),) + tuple(
        line(f"Call detail {i:03d}", "3", "0.10", "0.30") for i in range(120)
    )
    original = invoice()
    rendered = {f"{country}.pdf": render_invoice(doc) for country, doc in sorted(first.items())}
    credit_note = credit_note_of(original, "CN-2026-10-000001", note="Duplicate")
    rendered["credit-note.pdf"] = render_invoice(credit_note)
    rendered["multi-page.pdf"] = render_invoice(invoice(lines=many_lines))
    rendered["hybrid.pdf"] = render_einvoice(german_company())
    paths, parts = [], []
    for name, pdf in rendered.items():
        path = folder / name
        path.write_bytes(pdf)
        paths.append(path)
        parts.append(Part(path, name, name.removesuffix(".pdf"), hashlib.sha256(pdf).hexdigest()))
    merged = merge_pdfs(parts, folder / "merged.pdf")
    assert len(paths) >= 28
    return [*paths, merged.path]


def test_qpdf_finds_nothing_to_warn_about(files: list[Path]) -> None:
    qpdf = require_tool("qpdf", "qpdf", "the files' structure")
    for path in files:
        check = subprocess.run([qpdf, "--check", str(path)], capture_output=True, text=True)
        assert check.returncode == 0, (path.name, check.stdout, check.stderr)
        assert "No syntax or stream encoding errors found" in check.stdout, (path.name, check.stdout)
        assert "WARNING" not in check.stdout + check.stderr, (path.name, check.stdout, check.stderr)


def test_mupdf_reads_every_file_without_a_warning(files: list[Path]) -> None:
    mutool = require_tool("mutool", "mupdf-tools", "MuPDF's reading of the files")
    for path in files:
        info = subprocess.run([mutool, "info", str(path)], capture_output=True, text=True)
        assert info.returncode == 0, (path.name, info.stderr)
        assert info.stderr.strip() == "", (path.name, info.stderr)  # MuPDF warns and repairs on stderr
        assert "Pages:" in info.stdout, (path.name, info.stdout)


def test_ghostscript_interprets_every_page_without_a_warning(files: list[Path]) -> None:
    gs = require_tool("gs", "ghostscript", "Ghostscript's reading of the files")
    # Each file on its own run, without -q: that option silences the "**** This file had
    # errors that were repaired or ignored" a damaged file gets; every page is interpreted
    # to a device that keeps nothing.
    for path in files:
        run = subprocess.run(
            [gs, "-dNOPAUSE", "-dBATCH", "-dSAFER", "-sDEVICE=nullpage", str(path)],
            capture_output=True,
            text=True,
        )
        said = run.stdout + run.stderr
        assert run.returncode == 0, (path.name, said)
        assert "****" not in said and "error" not in said.lower(), (path.name, said)
        assert "Processing pages 1 through" in run.stdout, (path.name, said)
