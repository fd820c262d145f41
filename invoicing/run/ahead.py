"""The merge ahead: a run's merge that starts while its batches render, so that once the
last batch has committed only its invoices and the file's end remain to be written.

The chord body alone merged the run after every batch was done: 100,000 invoices, ~7 s
of serial linking after the rendering, while the other worker processes sat idle. Now
the first header task of a run that takes the run's merge lease (`lease`, on the run's
row) starts a thread in its worker process that runs the merge (`steps.merge_ahead`) over
a generator of the run's invoices in number order that waits, polling the database, for
the next one to be rendered or failed. Batches may commit in any order: the merge waits
at the first gap. The thread takes no pool slot: its process renders the next batch
meanwhile, and the linking's CPU (~3% of a run's) is what the body spent on it before.

Only an optimisation, never the one that decides. It writes the same files as the body,
byte for byte (same parts, same order, same code), and records the run only if nothing
changed under it (`steps.merge_ahead`: on the locked row, the lease still its own); the
body of the dispatch then finds the run recorded and returns its summary. If it gives
up (an error, the run resumed or retried, no progress for INVOICING_STALL_AFTER_S, its
lease lost) it releases the lease; if its process dies (killed, or a worker that lost
Redis exiting) the lease lapses within `lease.TTL_S`, 6 s, and a new dispatch clears it
at once. Either way the body merges the whole run itself, as before. Nothing it half
wrote is read back: the output and the job ticket appear only when complete, and are
written whole again by the body.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Iterator
from datetime import datetime

from sqlalchemy import select

from invoicing.config import Settings, get_settings
from invoicing.db import session_scope
from invoicing.errors import first_line
from invoicing.models import BillingRun, Invoice, InvoiceStatus, RunStatus
from invoicing.pdf import Part
from invoicing.pdf.fragments import Fragment, FragmentStore
from invoicing.run import lease, steps
from invoicing.run.paths import fragments_dir
from invoicing.run.state import aware
from invoicing.storage import Store, store_for

log = logging.getLogger(__name__)

POLL_S = 0.1  # how often a waiting merge looks for the next invoice
CHUNK = 2000  # invoice rows read at a time
FRAGMENT_WAIT_S = 1.0  # a batch's fragment file is written just after its rows commit

_running: set[int] = set()  # runs this process merges ahead
_lock = threading.Lock()


class GaveUp(Exception):
    """The merge ahead stops; the body will merge the run."""


def start(run_id: int, settings: Settings | None = None) -> bool:
    """Start merging run `run_id` ahead in this process if nobody does; never raises.
    Only on worker processes of a real broker: the embedded worker's body merges."""
    settings = settings or get_settings()
    if settings.embedded:
        return False
    with _lock:
        if run_id in _running:
            return False
        try:
            with session_scope() as session:
                run = session.get(BillingRun, run_id)
                if run is None or run.status != RunStatus.RENDERING or run.dispatched_at is None:
                    return False
                dispatched_at, period = run.dispatched_at, run.period
            held = lease.try_take(run_id, lease.token("ahead"), dispatched_at)
        except Exception as exc:  # noqa: BLE001 - the body merges without it
            log.info("billing run %s: no merge ahead (%s)", run_id, first_line(exc))
            return False
        if held is None:
            return False
        _running.add(run_id)
    thread = threading.Thread(
        target=_merge,
        args=(run_id, held, aware(dispatched_at), period, settings),
        name=f"merge-ahead-{run_id}",
        daemon=True,
    )
    thread.start()
    return True


def _merge(run_id: int, held: lease.Lease, dispatched_at: datetime, period: str, settings: Settings) -> None:
    try:
        store = store_for(settings)
        fragments = GrowingFragments(store, fragments_dir(settings, period))
        parts = ready_parts(run_id, held, dispatched_at, settings)
        summary = steps.merge_ahead(run_id, settings, parts, fragments, dispatched_at, held)
        if summary is None:
            log.info("billing run %s: merged ahead, but the run changed; the body merges it", run_id)
            return
        log.info("billing run %s merged ahead: %s", run_id, summary.status)
    except (GaveUp, lease.Lost) as exc:
        log.info("billing run %s: merge ahead stopped (%s); the body merges it", run_id, exc)
    except Exception as exc:  # noqa: BLE001 - a thread has nobody to raise to; the body merges
        log.warning("billing run %s: merge ahead failed (%s); the body merges it", run_id, first_line(exc))
    finally:
        try:
            held.release()
        except Exception:  # noqa: BLE001 - it lapses on its own
            pass
        with _lock:
            _running.discard(run_id)


def ready_parts(
    run_id: int, held: lease.Lease, dispatched_at: datetime, settings: Settings
) -> Iterator[Part]:
    """The run's rendered print invoices in number order, each once it is no longer
    pending; waits at the first pending one. Raises GaveUp if the run was dispatched
    again, the lease is lost, or nothing moved for INVOICING_STALL_AFTER_S."""
    last = 0
    moved = time.monotonic()
    waiting = False
    while True:
        if waiting and _next_is_pending(run_id, last):  # one row, not a chunk, while it waits
            if not held.renew():
                raise GaveUp("its lease was taken over")
            if time.monotonic() - moved > settings.stall_after_s:
                raise GaveUp(f"no invoice rendered for {settings.stall_after_s} s")
            time.sleep(POLL_S)
            continue
        with session_scope() as session:
            rows = session.execute(steps.parts_after(run_id, last, CHUNK)).all()
            current = session.scalar(select(BillingRun.dispatched_at).where(BillingRun.id == run_id))
        if current is None or aware(current) != dispatched_at:
            raise GaveUp("the run was dispatched again")
        if not rows:
            return
        waiting = False
        for row in rows:
            if row.status == InvoiceStatus.PENDING:
                waiting = True
                break
            last = row.seq
            moved = time.monotonic()
            if (part := steps.printed_part(row)) is not None:
                yield part
            if not held.renew():  # at most every lease.RENEW_S, however slow the parts are
                raise GaveUp("its lease was taken over")


def _next_is_pending(run_id: int, last: int) -> bool:
    with session_scope() as session:
        status = session.scalar(
            select(Invoice.status)
            .where(Invoice.run_id == run_id, Invoice.seq > last)
            .order_by(Invoice.seq)
            .limit(1)
        )
    return status == InvoiceStatus.PENDING


class GrowingFragments:
    """The run's fragment files as the header writes them: each new file is indexed when
    first seen (the folder is listed again on a miss) and kept, its index only, until
    every entry of it was handed out. A part whose fragment is not there yet waits up to
    FRAGMENT_WAIT_S for it (its batch writes the file just after committing its rows),
    once per run of misses; then it is parsed, which gives the same bytes.

    No file is forgotten before it is used up: a merge that fell behind by more files
    than a window holds would find no fragment for any later part and parse them all
    (at 1,000,000 subscribers a merge ahead that kept 32 files merged 17 invoices a
    second). A waiting file costs its index, about 1 KB per 100 invoices."""

    def __init__(self, store: Store, folder: str):
        self.store, self.folder = store, folder
        self.seen: set[str] = set()
        # In the order first listed, which is about the order batches commit, so the
        # merge, in number order, finds most parts in the first of them.
        self.files: OrderedDict[str, FragmentStore] = OrderedDict()
        self.current: str | None = None  # the file the last part came from, loaded
        self.missing_since: float | None = None
        self.gone = 0  # entries handed out by files used up

    @property
    def used(self) -> int:
        return self.gone + sum(files.used for files in self.files.values())

    def get(self, sha256: str | None) -> Fragment | None:
        fragment = self._look(sha256)
        if fragment is None and sha256:
            now = time.monotonic()
            if self.missing_since is None:
                self.missing_since = now
            while fragment is None:
                self._list()
                fragment = self._look(sha256)
                if fragment is not None or time.monotonic() - self.missing_since > FRAGMENT_WAIT_S:
                    break
                time.sleep(POLL_S / 2)
        if fragment is not None:
            self.missing_since = None
        return fragment

    def _look(self, sha256: str | None) -> Fragment | None:
        current = self.files.get(self.current) if self.current is not None else None
        fragment = current.get(sha256) if current is not None else None
        if fragment is not None:
            self._used_up(self.current)
            return fragment
        for location, files in self.files.items():
            fragment = files.get(sha256)
            if fragment is not None:
                self._switch_to(location)
                self._used_up(location)
                return fragment
        return None

    def _switch_to(self, location: str) -> None:
        """Parts come in number order, a batch's file after another's: only the file in
        use stays loaded. With each file kept loaded after its last part, the merging
        worker peaked at 260 MB RSS for 20,000 invoices, 252 MB with this (bench, 2
        workers). An index stays: a part of a file unloaded here loads it again."""
        before = self.files.get(self.current) if self.current is not None else None
        if before is not None and self.current != location:
            before.unload()
        self.current = location

    def _used_up(self, location: str | None) -> None:
        files = self.files.get(location) if location is not None else None
        if location is not None and files is not None and files.used >= len(files.index):
            self.gone += files.used
            del self.files[location]
            if self.current == location:
                self.current = None

    def _list(self) -> None:
        for location in self.store.list(self.folder, ".frag"):
            if location in self.seen:
                continue
            self.seen.add(location)
            try:
                files = FragmentStore([location], self.store.open)
            except (OSError, ValueError):
                continue  # unreadable: its parts are parsed
            self.files[location] = files
