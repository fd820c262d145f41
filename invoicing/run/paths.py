"""Where a run's files go in the output folder: one folder per period.

Names come from invoice numbers and run ids, never from subscriber-supplied text.
"""

from __future__ import annotations

from pathlib import Path

from invoicing.config import Settings


def run_dir(settings: Settings, period: str) -> Path:
    return settings.output_dir.resolve() / period


def invoice_path(settings: Settings, period: str, number: str) -> Path:
    # The number is prefix, period and sequence; the check guards against a
    # misconfigured prefix.
    path = run_dir(settings, period) / f"{number}.pdf"
    if path.parent.resolve() != run_dir(settings, period).resolve() or "/" in number or "\\" in number:
        raise ValueError(f"invoice number {number!r} is not a safe file name")
    return path


# The merged file of each kind of run, beside the period's invoices.
_MERGED = {
    "billing": "billing-run-{id}.pdf",
    "supplement": "billing-run-{id}-supplement.pdf",
    "credit": "credit-notes-run-{id}.pdf",
}


def merged_path(settings: Settings, period: str, run_id: int, kind: str = "billing") -> Path:
    """billing-run-7.pdf; a supplement's billing-run-9-supplement.pdf; a credit run's
    credit-notes-run-10.pdf."""
    return run_dir(settings, period) / _MERGED[str(kind)].format(id=run_id)


def fragments_dir(settings: Settings, period: str) -> Path:
    """Pre-linked invoices (pdf.merge.write_fragments), one file per rendered batch."""
    return run_dir(settings, period) / ".prelinked"
