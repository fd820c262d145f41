"""Invoices as PDF: what one invoice looks like, and merging many into one file.

Imports neither Celery nor the database: it takes `documents` dataclasses and bytes or
paths, and gives bytes or files. reportlab and pypdf internals stay inside this package.
"""

from invoicing.pdf.documents import InvoiceDocument, InvoiceLine, Seller
from invoicing.pdf.merge import Merged, MergeError, Part, merge_pdfs, write_fragments
from invoicing.pdf.render import RenderError, render_invoice

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
