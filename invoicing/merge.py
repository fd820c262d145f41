"""Many invoice PDFs -> one file (pypdf), with a bookmark and page labels per invoice.

No Celery, no database: callers hand in paths and titles in the order wanted.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from pypdf import PdfReader, PdfWriter
from pypdf.errors import PyPdfError

from invoicing.errors import InvoicingError


class MergeError(InvoicingError):
    """A part cannot be read or the output cannot be written; one line for the user."""


@dataclass(frozen=True)
class Part:
    path: Path
    title: str  # bookmark text, e.g. "INV-2026-10-000001 — Jürgen Müller"
    label: str  # page label prefix, e.g. the invoice number


@dataclass(frozen=True)
class Merged:
    path: Path
    pages: int
    sha256: str
    size: int


def merge_pdfs(parts: Sequence[Part], output: Path) -> Merged:
    """Merge in the given order and write `output` atomically (temp file, then rename)."""
    if not parts:
        raise MergeError("nothing to merge: no rendered invoices")
    writer = PdfWriter()
    page = 0
    for part in parts:
        try:
            reader = PdfReader(part.path)
            count = len(reader.pages)
            writer.append(reader, outline_item=part.title, import_outline=False)
        except FileNotFoundError:
            raise MergeError(f"missing invoice file {part.path}") from None
        except (PyPdfError, OSError, ValueError) as exc:
            raise MergeError(f"cannot read invoice file {part.path}: {exc}") from None
        # Labels make a viewer show "INV-2026-10-000042 1/2" instead of page 1042.
        writer.set_page_label(page, page + count - 1, style="/D", prefix=f"{part.label} p.", start=1)
        page += count
    # Invoices share font subsets and images byte for byte; keep one copy of each.
    writer.compress_identical_objects(remove_duplicates=True, remove_unreferenced=True)
    writer.add_metadata({"/Title": output.stem, "/Producer": "invoicing"})
    return write_atomically(output, writer, pages=page)


def write_atomically(output: Path, writer: PdfWriter, pages: int) -> Merged:
    output.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{output.name}.", suffix=".tmp", dir=output.parent)
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as handle:
            writer.write(handle)
            handle.flush()
            os.fsync(handle.fileno())
        digest, size = file_sha256(tmp)
        os.replace(tmp, output)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return Merged(output, pages, digest, size)


def file_sha256(path: Path) -> tuple[str, int]:
    digest = hashlib.sha256()
    size = 0
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
            size += len(block)
    return digest.hexdigest(), size
