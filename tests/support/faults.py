"""Holding a billing run at a known point, so a fault test acts while a batch is in flight.

A render batch cannot finish without recording its invoices in the database: the files
are staged and put in place first, the rows that say so commit last, and only then does
the task return. While a test holds the lock those writes need, every batch a worker has
taken stays unfinished, however slow or fast the machine: a task seen active (see
Workers.held_batches) is still running when the test kills its process, and no batch
can complete between the observation and the kill.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url


@contextmanager
def invoice_writes_held(database_url: str) -> Iterator[None]:
    """Inside, no batch can record its invoices; readers (`status`, the render's own
    queries) are not blocked. Take it after the run was issued (issuing writes too).

    SQLite: the database's write lock (BEGIN IMMEDIATE; WAL readers go on). A writer
    waits for it up to its 30 s busy timeout and then retries the batch, so keep the
    hold shorter than that. PostgreSQL: a SHARE lock on the invoices table, which every
    UPDATE waits for as long as it is held.
    """
    url = make_url(database_url)
    if url.get_backend_name() == "sqlite":
        connection = sqlite3.connect(url.database or "", isolation_level=None)
        try:
            connection.execute("BEGIN IMMEDIATE")
            yield
            connection.execute("ROLLBACK")
        finally:
            connection.close()
        return
    engine = create_engine(database_url)
    try:
        with engine.connect() as connection:
            connection.execute(text("LOCK TABLE invoices IN SHARE MODE"))
            yield
            connection.rollback()
    finally:
        engine.dispose()


def writers_waiting(database_url: str) -> int:
    """How many sessions wait for the invoice lock `invoice_writes_held` holds (PostgreSQL):
    each is a batch a pool process has rendered and cannot record. Seen in the database,
    so the workers are not asked anything while the test breaks their broker."""
    engine = create_engine(database_url)
    try:
        with engine.connect() as connection:
            query = text(
                "SELECT count(*) FROM pg_locks WHERE NOT granted AND relation = 'invoices'::regclass"
            )
            return int(connection.execute(query).scalar_one())
    finally:
        engine.dispose()


@contextmanager
def merged_file_blocked(output_dir: str, period: str, run_id: int) -> Iterator[None]:
    """Inside, a folder (not empty) stands where run `run_id`'s merged file must go, so
    every merge of it fails writing it (the merge ahead's and the body's alike); gone after."""
    blocker = Path(output_dir) / period / f"billing-run-{run_id}.pdf"
    (blocker / "in-the-way").mkdir(parents=True)
    try:
        yield
    finally:
        (blocker / "in-the-way").rmdir()
        blocker.rmdir()
