"""The package's two errors, and the one-line form of a cause that their messages quote.

They live here rather than in render.py and merge.py because the modules that raise
them (format, logo, fragments, prelink) are imported by those two, not the reverse.
Both are importable from `invoicing.pdf`, which is where callers should take them from.
"""

from __future__ import annotations

from invoicing.errors import InvoicingError

__all__ = ["MergeError", "RenderError", "one_line"]


class RenderError(Exception):
    """A permanent, data-caused failure: rendering this document again won't help.

    The message is one human-readable line; the billing run stores it on the invoice.
    """


class MergeError(InvoicingError):
    """A part cannot be read or the output cannot be written; one line for the user."""


def one_line(exc: BaseException) -> str:
    """The exception's message with all whitespace collapsed, or its type's name.

    Not `invoicing.errors.first_line`: a damaged PDF or image can give a message whose
    first line says little, and here the whole message fits on the line anyway.
    """
    return " ".join(str(exc).split()) or type(exc).__name__
