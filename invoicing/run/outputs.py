"""Where a command's `-o` may write: never over the billing runs' own files.

`render`, `merge` and `export` write a file the user names, and `--force` lets them
replace one. They must never replace what a run wrote: an issued invoice's bytes never
change (its sha256 is recorded), and neither do a run's merged file, its volumes or the
print shop's manifests. Two rules, both checked on real paths (symlinks and relative
paths resolved), with or without --force:

* Nothing inside the local output folder (INVOICING_OUTPUT_DIR). The folder belongs to
  the runs: besides the files the database records, it holds files a run writes later
  (an invoice not rendered yet, a supplement's merged file) and the pre-linked
  fragments, none of which a user's `-o` may take the name of. A billing user keeps an
  export or a preview elsewhere; refusing the whole tree is simpler to explain and to
  get right than telling which names a run will want.
* Nothing the database records anywhere else: files of earlier runs stay where they
  were written when INVOICING_OUTPUT_DIR has moved since. Looked up by what the file's
  name can be (an invoice by its number, the runs' merged files and volumes, whose
  manifests are named after them), not by scanning every invoice.

An s3:// output folder has no local path: a local `-o` can be none of its files.
"""

from __future__ import annotations

import os
from pathlib import Path

from sqlalchemy import select

from invoicing.config import Settings
from invoicing.db import session_scope
from invoicing.files import folder_problem, output_problem, shown_path
from invoicing.models import BillingRun, Invoice, RunVolume
from invoicing.run.paths import merged_name, run_dir
from invoicing.run.printing import manifest_paths
from invoicing.storage import is_s3

__all__ = ["output_folder_problem", "output_refusal"]


def output_folder_problem(settings: Settings, period: str) -> str | None:
    """Before issuing: why the period's folder cannot be made and written (a local output
    folder; object storage is checked by its store), or None. Otherwise every invoice
    would be issued and then fail."""
    if is_s3(str(settings.output_dir)):
        return None
    problem = folder_problem(Path(run_dir(settings, period)))
    return None if problem is None else f"INVOICING_OUTPUT_DIR: {problem}"


def output_refusal(output: Path, force: bool, settings: Settings) -> str | None:
    """Why `-o output` is refused before any work (`files.output_problem`, then the two
    rules above), as one line; None if the command may write it."""
    problem = output_problem(output, force)
    if problem is not None:
        return problem
    real = os.path.realpath(output)
    folder = str(settings.output_dir)
    if not is_s3(folder):
        root = os.path.realpath(folder)
        if real == root or real.startswith(root.rstrip(os.sep) + os.sep):
            return (
                f"-o {shown_path(output)}: is inside the output folder {root}, which belongs to the billing "
                "runs (their invoices, merged files and manifests); write it elsewhere"
            )
    for location, what in _recorded(os.path.basename(real)):
        if not is_s3(location) and os.path.realpath(location) == real:
            return f"-o {shown_path(output)}: is {what}; --force never replaces a billing run's files"
    return None


def _recorded(name: str) -> list[tuple[str, str]]:
    """The recorded files (and the manifests beside merged files) that can be called
    `name`: (location, what it is)."""
    found: list[tuple[str, str]] = []
    with session_scope() as session:
        if name.endswith(".pdf"):
            invoices = session.execute(
                select(Invoice.number, Invoice.pdf_path).where(Invoice.number == name.removesuffix(".pdf"))
            ).all()
            found += [(location, f"the file of {number}") for number, location in invoices if location]
        runs = session.execute(select(BillingRun.id, BillingRun.kind, BillingRun.output_path)).all()
        volumes = session.execute(select(RunVolume.run_id, RunVolume.output_path)).all()
    for run_id, kind, location in runs:
        if not location:
            continue
        found.append((location, f"the merged file of billing run {run_id}"))
        # With volumes the run records the first; the manifests are named after the
        # merged file's own name, in the same folder.
        merged = os.path.join(os.path.dirname(location), merged_name(run_id, kind))
        found += [(manifest, f"a manifest of billing run {run_id}") for manifest in manifest_paths(merged)]
    found += [(location, f"a volume of billing run {run_id}") for run_id, location in volumes]
    return found
