"""The bench's last check: every invoice once in the merged file, read back from the file.

The merged file's outline is walked with pypdf, bookmark by bookmark (`/First`, then
`/Next`), in a process of its own: pypdf reads the whole cross-reference table, 3 objects
per invoice (at a million invoices 790 MB), which is the checker's memory, not the
run's. It reads the file through an open handle: given a path, pypdf reads the whole file
into memory first (a million invoices: a 2 GB file, and 2.7 GB for the checker). It
prints how many bookmarks it found and a sha256 of their invoice numbers in order; the
bench compares both with the run's printed invoices as the database lists them in number
order.

Run as `python -m invoicing.bench.outline FILE`.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import NamedTuple

from invoicing.bench.rss import peak_rss_mb
from invoicing.errors import InvoicingError

_SEPARATOR = " — "  # a bookmark is "<number> — <name>" (steps.part_of)
_FORGET_EVERY = 10_000  # objects pypdf keeps resolved, dropped this often


def digest(numbers: Iterable[str]) -> tuple[int, str]:
    """How many invoice numbers, and a sha256 of them in order, one per line."""
    sha = hashlib.sha256()
    count = 0
    for number in numbers:
        sha.update(number.encode() + b"\n")
        count += 1
    return count, sha.hexdigest()


def outline_numbers(path: Path) -> Iterator[str]:
    """The invoice number of each top-level bookmark of `path`, in the file's order."""
    from pypdf import PdfReader
    from pypdf.generic import DictionaryObject

    with path.open("rb") as handle:
        reader = PdfReader(handle)
        outlines = reader.root_object.get("/Outlines")
        outlines = None if outlines is None else outlines.get_object()
        node = outlines.get("/First") if isinstance(outlines, DictionaryObject) else None
        seen = 0
        while node is not None:
            item = node.get_object()
            assert isinstance(item, DictionaryObject)
            yield str(item["/Title"]).split(_SEPARATOR, 1)[0]
            node = item.get("/Next")
            seen += 1
            if seen % _FORGET_EVERY == 0:
                reader.resolved_objects.clear()  # only the bookmark in hand is needed


class OutlineCheck(NamedTuple):
    invoices: int  # bookmarks read back, each invoice once and in order
    peak_rss_mb: float  # the checker's own peak: the bench's, not the run's


def check_outline(path: Path, numbers: Iterable[str]) -> OutlineCheck:
    """The bookmarks in the merged file `path`, read in a child process; raises
    InvoicingError unless they are `numbers`, in that order, each once."""
    proc = subprocess.run(
        [sys.executable, "-m", "invoicing.bench.outline", str(path)], capture_output=True, text=True
    )
    if proc.returncode != 0:
        last = (proc.stderr.strip().splitlines() or ["no output"])[-1]
        raise InvoicingError(f"bench: cannot read the merged file's outline: {last}")
    found = json.loads(proc.stdout)
    count, sha256 = digest(numbers)
    if (found["count"], found["sha256"]) != (count, sha256):
        raise InvoicingError(
            f"bench: the merged file's outline lists {found['count']:,} invoices, the database "
            f"{count:,}{'' if found['count'] != count else ', not the same ones in the same order'}"
        )
    return OutlineCheck(count, found["peak_rss_mb"])


def printed_numbers(run_id: int) -> Iterator[str]:
    """The numbers of the run's invoices that go into its print file, in number order:
    the parts the merge took (`steps.rendered_parts`), as the database lists them."""
    from invoicing.run.steps import rendered_parts

    return (part.label for part in rendered_parts(run_id))


def main(argv: list[str]) -> int:
    count, sha256 = digest(outline_numbers(Path(argv[0])))
    print(json.dumps({"count": count, "sha256": sha256, "peak_rss_mb": peak_rss_mb()}))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
