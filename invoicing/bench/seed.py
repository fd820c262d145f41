"""The bench's subscribers, generated and imported by a process of its own.

`python -m invoicing.bench.seed COUNT PERIOD` imports COUNT synthetic subscribers and
their charges for PERIOD into the database the environment names, `SEED_CHUNK` at a
time. In a child process, so that the bench's own process, which then issues the run
as `invoicing run` would, measures the run and not the generator: Python keeps much of
the memory an import frees, scattered among what each chunk left alive, and only the
child's exit returns it all.
"""

from __future__ import annotations

import subprocess
import sys

from invoicing.errors import InvoicingError

SEED_CHUNK = 20_000  # subscribers imported at a time: a process peaks at 193 MB (50,000: 308 MB)


def seed(subscribers: int, period: str) -> None:
    """Import the bench's subscribers in a child process; InvoicingError if it fails."""
    proc = subprocess.run(
        [sys.executable, "-m", "invoicing.bench.seed", str(subscribers), period],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    if proc.returncode != 0:
        last = (proc.stderr.strip().splitlines() or ["no output"])[-1]
        raise InvoicingError(f"bench: cannot import the synthetic subscribers: {last}")


def main(argv: list[str]) -> int:
    from invoicing.billing.importer import import_data
    from invoicing.db import session_scope
    from invoicing.synthetic import synthetic_chunks

    count, period = int(argv[0]), argv[1]
    for generated in synthetic_chunks(count, period, seed=1, size=SEED_CHUNK):
        with session_scope() as session:
            import_data(session, generated)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
