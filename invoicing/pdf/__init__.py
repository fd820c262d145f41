"""Invoices as PDF: what one invoice looks like, and merging many into one file.

Imports neither Celery nor the database: it takes `documents` dataclasses and bytes or
paths, and gives bytes or files. reportlab and pypdf internals stay inside this package.
Callers outside it import from here.

Rendering: render (the entry point) <- layout (the design) <- page (the painter),
text (cleaning, font runs, wrapping), format (Babel), logo, fonts (the TrueType faces
and their seeded subsets) and objects (pre-formatted PDF objects).

Merging: merge (the linker and streaming writer) <- prelink (pypdf parsing into
fragments, write_fragments) <- fragments (the fragment type and the .frag file).
"""

from invoicing.pdf.documents import InvoiceDocument, InvoiceLine, Seller
from invoicing.pdf.errors import MergeError, RenderError
from invoicing.pdf.merge import Merged, Part, merge_pdfs
from invoicing.pdf.prelink import write_fragments
from invoicing.pdf.render import render_invoice

__all__ = [
    "InvoiceDocument",
    "InvoiceLine",
    "MergeError",
    "Merged",
    "Part",
    "RenderError",
    "Seller",
    "merge_pdfs",
    "render_invoice",
    "write_fragments",
]
