"""Invoices as PDF: what one invoice looks like, and merging many into one file.

Imports neither Celery nor the database: it takes `documents` dataclasses and bytes or
paths, and gives bytes or files. reportlab and pypdf internals stay inside this package.
Callers outside it import from here.

Rendering: `render` (the entry point: checks, metadata, determinism) uses `layout`
(what the invoice looks like, its words from `translate`'s catalogs), which places
`text` (cleaning, font runs, bidi levels from `bidi`, wrapping) with `format` (Babel)
and `logo` on `page`s, which draw themselves on reportlab's canvas; reportlab's
PDFDocument writes the file. `fonts` holds the bundled faces and chooses one per
character, `shaping` turns runs into positioned glyphs (HarfBuzz), `glyph_font` makes
each face a reportlab font of glyph ids, `embed` the PDF objects of a subset (HarfBuzz's
subsetter), `drawn` what a document draws, `objects` the byte-level PDF objects.

Merging: `merge` (the linker and streaming writer) links fragments that `prelink`
makes from PDFs with pypdf (also `write_fragments`, for the render workers);
`fragments` is the fragment type and the .frag file that carries them; `volumes` the
print-ready shape of the output (duplex padding, volumes, where each invoice landed).
`errors` holds RenderError and MergeError, below everything that raises them.
"""

from typing import TYPE_CHECKING

from invoicing.lazy import lazy_names
from invoicing.pdf.documents import InvoiceDocument, InvoiceLine, Seller
from invoicing.pdf.errors import MergeError, RenderError

if TYPE_CHECKING:
    from invoicing.pdf.merge import Merged, Part, merge_pdfs
    from invoicing.pdf.prelink import write_fragments
    from invoicing.pdf.render import render_invoice
    from invoicing.pdf.volumes import Placement, PrintLayout, Volume, volume_path

# The renderer and the merge are imported when first used (PEP 562): the documents and
# the catalogs are all that billing and most commands need, and the rest (reportlab,
# HarfBuzz, the fonts, pypdf) is a second of start-up for every command.
_LAZY = {
    "Merged": "merge",
    "Part": "merge",
    "merge_pdfs": "merge",
    "write_fragments": "prelink",
    "render_invoice": "render",
    "Placement": "volumes",
    "PrintLayout": "volumes",
    "Volume": "volumes",
    "volume_path": "volumes",
}

__getattr__ = lazy_names(__name__, _LAZY)


__all__ = [
    "InvoiceDocument",
    "InvoiceLine",
    "MergeError",
    "Merged",
    "Part",
    "Placement",
    "PrintLayout",
    "RenderError",
    "Seller",
    "Volume",
    "merge_pdfs",
    "render_invoice",
    "volume_path",
    "write_fragments",
]
