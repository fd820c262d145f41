"""Where a run's files go in the output storage (a folder or an S3 prefix): one folder
per period. Locations are strings (see invoicing.storage).

Names come from invoice numbers and run ids, never from subscriber-supplied text.
"""

from __future__ import annotations

from invoicing.config import Settings
from invoicing.storage import Store, store_for


def run_dir(settings: Settings, period: str) -> str:
    return store_for(settings).join(period)


def invoice_path(settings: Settings, period: str, number: str, store: Store | None = None) -> str:
    """`store`: `store_for(settings)` if the caller has it already (a batch asks once:
    a local store resolves its folder on the file system)."""
    # The number is prefix, period and sequence; the check guards against a
    # misconfigured prefix.
    if "/" in number or "\\" in number or number in ("", ".", ".."):
        raise ValueError(f"invoice number {number!r} is not a safe file name")
    return (store or store_for(settings)).join(period, f"{number}.pdf")


# The merged file of each kind of run, beside the period's invoices.
_MERGED = {
    "billing": "billing-run-{id}.pdf",
    "supplement": "billing-run-{id}-supplement.pdf",
    "credit": "credit-notes-run-{id}.pdf",
}


def merged_path(settings: Settings, period: str, run_id: int, kind: str = "billing") -> str:
    """billing-run-7.pdf; a supplement's billing-run-9-supplement.pdf; a credit run's
    credit-notes-run-10.pdf."""
    return store_for(settings).join(period, merged_name(run_id, kind))


def merged_name(run_id: int, kind: str = "billing") -> str:
    """The file name of `merged_path`, wherever the run's folder was."""
    return _MERGED[str(kind)].format(id=run_id)


def fragments_dir(settings: Settings, period: str) -> str:
    """Pre-linked invoices (pdf.merge.write_fragments), one file per rendered batch."""
    return store_for(settings).join(period, ".prelinked")
