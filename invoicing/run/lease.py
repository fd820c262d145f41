"""Who merges a run now: a lease on the run's row, held by the merge that runs ahead of
the body (`ahead`) or by the chord body itself, so that one of them at a time writes and
records the run's output.

Why the database and not Redis (where the first version kept it): the faults it must
survive. Redis restarting empty took the lease and the "merged ahead" mark with it, and a
worker that loses Redis exits, its merge thread with it; the body of the `retry` that
followed waited on a lease nobody would release, and a lost mark made a body merge and
record a run the merge ahead had already recorded (its webhook event twice). The run's
row is where the run's state is: it survives a Redis restart, a new dispatch clears the
lease in the transaction that dispatches (`dispatch.resume`), and the merge ahead records
the run in the transaction that checks, on the locked row, that the lease is still its
own, which a key in Redis cannot give (it may lapse between the check and the commit).
A renewal is one UPDATE by primary key at most every RENEW_S.

A lease is a token and the moment it lapses (`merge_lease_until`, UTC by the holder's
clock), taken by compare-and-set: one UPDATE whose WHERE says it is free or lapsed (and,
for the merge ahead, that the run is open and still the dispatch it saw). The holder
renews it while it works; a dead holder's lapses within TTL_S and the next one takes it.
A clock ahead of the others only takes a lease early: the merge ahead then finds it lost
and records nothing, and the body merges the run itself.
"""

from __future__ import annotations

import os
import socket
import time
import uuid
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import TypeVar

from sqlalchemy import ColumnElement, or_, select, update

from invoicing.db import session_scope
from invoicing.models import BillingRun, RunStatus

TTL_S = 6.0  # a dead holder's lease lapses in this; a live one renews it every RENEW_S
RENEW_S = 1.0
WAIT_POLL_S = 0.05  # how often the body looks for the lease while another holds it

T = TypeVar("T")


class Lost(Exception):
    """The holder found its lease taken over (it lapsed, or a new dispatch cleared it)."""


def token(kind: str) -> str:
    """A new holder's token: what holds it (for a person reading the row) and a random part."""
    where = f"{kind}:{socket.gethostname()[:24]}:{os.getpid()}"
    return f"{where}:{uuid.uuid4().hex[: 64 - len(where) - 1]}"


def _free(now: datetime) -> ColumnElement[bool]:
    return or_(BillingRun.merge_lease.is_(None), BillingRun.merge_lease_until < now)


class Lease:
    """A run's merge lease this process holds."""

    def __init__(self, run_id: int, holder: str):
        self.run_id, self.token = run_id, holder
        self.renewed = time.monotonic()

    def renew(self, now: bool = False) -> bool:
        """Extend it if RENEW_S passed since the last time (or `now`); False if it is not
        ours any more."""
        if not now and time.monotonic() - self.renewed < RENEW_S:
            return True
        with session_scope() as session:
            ours = session.execute(  # type: ignore[attr-defined]  # an UPDATE's CursorResult
                update(BillingRun)
                .where(BillingRun.id == self.run_id, BillingRun.merge_lease == self.token)
                .values(merge_lease_until=datetime.now(UTC) + timedelta(seconds=TTL_S))
            ).rowcount
        self.renewed = time.monotonic()
        return bool(ours)

    def renewing(self, items: Iterable[T]) -> Iterator[T]:
        """`items`, renewing the lease as they are taken (a holder that lost it goes on)."""
        for item in items:
            self.renew()
            yield item

    def holds(self, run: BillingRun) -> bool:
        """Whether the lease on `run` (a row read in the caller's transaction) is this one."""
        return run.merge_lease == self.token

    def release(self) -> None:
        with session_scope() as session:
            session.execute(
                update(BillingRun)
                .where(BillingRun.id == self.run_id, BillingRun.merge_lease == self.token)
                .values(merge_lease=None, merge_lease_until=None)
            )


def try_take(run_id: int, holder: str, dispatched_at: datetime | None = None) -> Lease | None:
    """The run's merge lease if it is free or lapsed, else None. With `dispatched_at`
    (the merge ahead), only while the run is rendering and still that dispatch."""
    now = datetime.now(UTC)
    taking = update(BillingRun).where(BillingRun.id == run_id, _free(now))
    if dispatched_at is not None:
        taking = taking.where(
            BillingRun.status == RunStatus.RENDERING, BillingRun.dispatched_at == dispatched_at
        )
    with session_scope() as session:
        taken = session.execute(  # type: ignore[attr-defined]  # an UPDATE's CursorResult
            taking.values(merge_lease=holder, merge_lease_until=now + timedelta(seconds=TTL_S))
        ).rowcount
    return Lease(run_id, holder) if taken else None


@contextmanager
def merging(run_id: int) -> Iterator[Lease]:
    """Hold the run's merge lease for the block (the body), waiting while a live holder
    has it: a merge ahead finishing the run, or another delivery of the body. A dead
    holder's lease lapses within TTL_S; one of an earlier dispatch was cleared by the
    dispatch. LookupError if there is no such run."""
    holder = token("body")
    while (held := try_take(run_id, holder)) is None:
        with session_scope() as session:
            if session.scalar(select(BillingRun.id).where(BillingRun.id == run_id)) is None:
                raise LookupError(f"no billing run {run_id}")
        time.sleep(WAIT_POLL_S)
    try:
        yield held
    finally:
        held.release()
