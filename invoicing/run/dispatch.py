"""Sending the billing run's work: issue and dispatch a run, resume it, reconcile the runs
nobody is working on, salvage a chord whose header raised.

A run is issued (numbers, totals) in one transaction and committed before any task is
sent; tasks carry invoice ids only. Tasks are sent by name (`app.signature`), so this
module never imports `tasks`, which imports it: tasks -> dispatch -> app, one way.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from kombu.utils.uuid import uuid
from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from invoicing.billing import BillingError, Period, create_run
from invoicing.billing.credit import issue_credit_note
from invoicing.billing.issue import refresh_unsent, unbilled_count
from invoicing.billing.preview import CANNOT_BILL, Preview, preview_run
from invoicing.billing.void import void_run
from invoicing.celery import app
from invoicing.config import Settings, get_settings
from invoicing.db import session_scope
from invoicing.errors import InvoicingError, plural
from invoicing.models import BillingRun, Invoice, InvoiceStatus, RunKind, RunStatus
from invoicing.run.arguments import MAX_BATCH, InvoiceRange
from invoicing.run.printing import check_volume_size
from invoicing.run.publish import send_chord
from invoicing.run.runtime import unsubscribe
from invoicing.run.state import FINAL, identity, is_stalled, last_activity
from invoicing.run.steps import RENDER_CHUNK, merge_run_invoices, printed_count, tell_run_finished
from invoicing.storage import present, store_at

# Header tasks of a run: tasks of RENDER_CHUNK invoices, unless that would make more than
# MAX_TASKS_PER_PROCESS per worker process or MAX_TASKS in all (then fewer, larger ones),
# and never fewer than MIN_TASKS_PER_PROCESS per process (but for the embedded backend,
# an LRU of 5,000 results, which takes at most MAX_TASKS). See `batch_size`.
MAX_TASKS = 1000
MIN_TASKS_PER_PROCESS = 8
MAX_TASKS_PER_PROCESS = 32


class RunBusy(InvoicingError):
    """The run is still being worked on; doing more now would render twice."""


# --- the tasks, by name (see tasks.py) -----------------------------------------------------


def render_batch_signature(invoice_ids: Sequence[int] | InvoiceRange) -> Any:
    """A header task: a range of a run's invoices (three numbers), or a list of ids."""
    batch = invoice_ids.as_message() if isinstance(invoice_ids, InvoiceRange) else list(invoice_ids)
    return app.signature("invoicing.render_batch", args=(batch,), immutable=True)


def _merge_run(run_id: int) -> Any:
    """The chord body, with the error callback that salvages a broken chord."""
    body = app.signature("invoicing.merge_run", args=(run_id,), immutable=True)
    return body.on_error(app.signature("invoicing.chord_failed", args=(run_id,)))


# --- batching ------------------------------------------------------------------------------


def batch_size(invoices: int, workers: int, settings: Settings) -> int:
    """Invoices per header task.

    One message per invoice costs more in broker round trips than the render itself, so
    batch: at least eight tasks per worker process keep them all busy to the end. Tasks
    of RENDER_CHUNK invoices unless a large run would make too many: the caller's CPU and
    wall time are per task (1,000 tasks took 1.8 s to send, 0.7 s CPU, on the loaded
    2-core machine), so at most 32 per process and 1,000 in all, larger ones. A worker
    renders a task RENDER_CHUNK invoices per transaction (`steps.render_chunked`), so a
    larger task holds no more memory, and a retry redoes no more, than one of
    RENDER_CHUNK; what a task costs as such (its message, result, events, the chord's
    counter) is paid once for all. A process that finishes its last task early idles at
    most one task's time: with 32 tasks each, ~3 % of the run. At most MAX_BATCH (10,000,
    ~25 s of one process's CPU) a task, far within its time limit.
    """
    if settings.batch_size:
        size = settings.batch_size
    else:
        processes = max(workers, 1)
        even = math.ceil(invoices / (processes * MIN_TASKS_PER_PROCESS))
        tasks = min(processes * MAX_TASKS_PER_PROCESS, MAX_TASKS)
        size = max(1, min(MAX_BATCH, even, max(RENDER_CHUNK, math.ceil(invoices / tasks))))
    if settings.embedded:
        size = max(size, math.ceil(invoices / MAX_TASKS))
    return size


def batches(ids: Sequence[int], size: int) -> list[list[int]]:
    return [list(ids[start : start + size]) for start in range(0, len(ids), size)]


def ranges(run_id: int, ids: Sequence[int], size: int) -> list[InvoiceRange]:
    """The run's invoices `ids` as ranges of `size` of them each, by id: disjoint, so no
    invoice is in two batches, and each renders those in it not rendered yet. A resumed
    run's ranges may span invoices rendered before; they are left out when it runs."""
    ordered = sorted(ids)
    return [InvoiceRange(run_id, chunk[0], chunk[-1]) for chunk in batches(ordered, size)]


def run_ranges(session: Session, run_id: int, workers: int, settings: Settings) -> list[InvoiceRange]:
    """Every invoice of run `run_id` as ranges of `batch_size` of them, from the database
    without reading the ids: a run issued in one statement has consecutive ids, so the
    ranges follow from its first id, its last and its count; otherwise (another run's
    invoices issued in between) one query numbers its ids and returns each range's ends.

    Both give what `ranges` gives for the run's ids. Reading 100,000 ids took 0.24 s
    (SQLite, a loaded machine); the first and last 0.02 s."""
    first, last, count = session.execute(
        select(func.min(Invoice.id), func.max(Invoice.id), func.count()).where(Invoice.run_id == run_id)
    ).one()
    if not count:
        return []
    size = batch_size(count, workers, settings)
    if last - first + 1 == count:
        return [InvoiceRange(run_id, a, min(a + size - 1, last)) for a in range(first, last + 1, size)]
    numbered = select(
        Invoice.id, ((func.row_number().over(order_by=Invoice.id) - 1) // size).label("part")
    ).where(Invoice.run_id == run_id)
    part = numbered.subquery()
    ends = session.execute(
        select(func.min(part.c.id), func.max(part.c.id)).group_by(part.c.part).order_by(part.c.part)
    )
    return [InvoiceRange(run_id, a, b) for a, b in ends]


# --- starting, resuming, dispatching --------------------------------------------------------


@dataclass(frozen=True)
class Started:
    run_id: int
    period: str
    action: str  # created | supplement | credit | resumed | attached | merging | complete
    invoices: int
    dispatched: int = 0  # invoices sent to workers now


def start_or_resume(
    period: Period | None = None, workers: int = 2, settings: Settings | None = None
) -> Started:
    """Issue the period's run and dispatch it; or, once the period's run is finished and
    subscribers billable in it still have no invoice (they were added later), issue them
    in a supplement; or resume the period's latest run.

    The unique (period, seq) of billing_runs makes a concurrent second start fail its
    insert; it then resumes (or attaches to) the winner's run instead of billing anyone
    twice.
    """
    settings = settings or get_settings()
    period = period or Period.previous()
    run_id = count = 0
    kind = RunKind.BILLING
    try:
        with session_scope() as session:
            latest = latest_run(session, period)
            existing = latest.id if latest is not None else None
            if latest is not None and latest.status in FINAL and unbilled_count(session, period):
                kind, existing = RunKind.SUPPLEMENT, None
            if existing is None:
                run = create_run(session, settings, period, kind)
                run.dispatched_by = identity(settings)
                run_id, count = run.id, run.invoice_count
                if kind == RunKind.SUPPLEMENT and not count and latest is not None:
                    # Everybody left is skipped again (data not corrected yet): a
                    # supplement of nobody each night would bury the period's runs.
                    existing = latest.id
                    session.rollback()
        # Committed: the invoices exist before any task that refers to them is sent.
    except IntegrityError:
        with session_scope() as session:
            winner = latest_run(session, period)
        if winner is None:
            raise
        existing = winner.id
    if existing is not None:
        return resume(existing, workers=workers, settings=settings)
    action = "created" if kind == RunKind.BILLING else "supplement"
    if not count:
        merge_run_invoices(run_id, settings)
        return Started(run_id, str(period), action, 0)
    dispatch_run(run_id, workers, settings)
    return Started(run_id, str(period), action, count, dispatched=count)


def latest_run(session: Session, period: Period) -> BillingRun | None:
    """The period's newest billing run or supplement (credit runs are not runs of the
    period's billing, and a void run bills nobody: after one, the period bills anew)."""
    return session.scalar(
        select(BillingRun)
        .where(
            BillingRun.period == str(period),
            BillingRun.kind != RunKind.CREDIT,
            BillingRun.status != RunStatus.VOID,
        )
        .order_by(BillingRun.seq.desc())
        .limit(1)
    )


def start_credit(
    number: str,
    amount: Decimal | None,
    reason: str | None,
    workers: int = 2,
    settings: Settings | None = None,
) -> Started:
    """Issue a credit note for invoice `number` in its own run and render it through the chord.

    Two credit runs (or a credit and a supplement) started at once can pick the same run
    seq; the loser tries again with the next one, so neither is lost.
    """
    settings = settings or get_settings()
    for attempt in range(3):
        try:
            with session_scope() as session:
                run, note = issue_credit_note(session, settings, number, amount, reason)
                run.dispatched_by = identity(settings)
                run_id, period, note_id = run.id, run.period, note.id
            break
        except IntegrityError:
            if attempt == 2:
                raise
    dispatch(run_id, [note_id], workers, settings)
    return Started(run_id, period, "credit", 1, dispatched=1)


def void(run_id: int, reason: str | None = None) -> BillingRun:
    """Void run `run_id` (billing/void.py) and commit; BillingError with nothing changed."""
    with session_scope() as session:
        run = void_run(session, run_id, reason)
        return run


def ids_of_run(run_id: int) -> list[int]:
    with session_scope() as session:
        return list(session.scalars(select(Invoice.id).where(Invoice.run_id == run_id).order_by(Invoice.seq)))


def dispatch_run(run_id: int, workers: int, settings: Settings) -> str:
    """Send the chord of every invoice of run `run_id`; returns the id of its body."""
    with session_scope() as session:
        header = run_ranges(session, run_id, workers, settings)
    return _send(run_id, header, settings)


def dispatch(run_id: int, invoice_ids: Sequence[int], workers: int, settings: Settings) -> str:
    """Send the chord of these invoices of run `run_id` (what a resumed run left to
    render, a credit note); returns the id of its body (the merge)."""
    size = batch_size(len(invoice_ids), workers, settings)
    return _send(run_id, ranges(run_id, invoice_ids, size), settings)


def _send(run_id: int, header: Sequence[InvoiceRange], settings: Settings) -> str:
    """Each header task names its batch as a range of the run's invoice ids, three numbers
    whatever the batch size: the messages stay small, and what the caller builds per
    task does not grow with the invoices in it. The header's messages go out in a few
    Redis pipelines (`publish`), not one round trip each."""
    tasks = [render_batch_signature(batch).set(task_id=uuid()) for batch in header]
    body_id: str = send_chord(tasks, _merge_run(run_id)).id
    # Runs are followed in the database, not in the result backend.
    unsubscribe([body_id, *(sig.id for sig in tasks)])
    with session_scope() as session:
        session.execute(
            update(BillingRun)
            .where(BillingRun.id == run_id)
            .values(dispatched_at=datetime.now(UTC), dispatched_by=identity(settings))
        )
    return body_id


def resume(
    run_id: int,
    workers: int = 2,
    settings: Settings | None = None,
    busy_is_error: bool = False,
    check_volumes: bool = True,
) -> Started:
    """Render what is missing or failed, then merge again; never issues new invoices.

    A run that is still being worked on is left alone (action "attached") unless
    `busy_is_error` (then RunBusy): dispatching it twice would only render twice.
    With `check_volumes`, a volume size one of its rendered invoices cannot fit in is
    refused (BillingError) before anything is dispatched.
    """
    settings = settings or get_settings()
    with session_scope() as session:
        run = session.get(BillingRun, run_id, with_for_update=True)
        if run is None:
            raise BillingError(f"no billing run {run_id}")
        period, count = run.period, run.invoice_count
        if run.status == RunStatus.VOID:
            raise BillingError(
                f"billing run {run_id} is void ({run.void_reason}); nothing of it is rendered again"
            )
        if run.status not in FINAL and not is_stalled(session, run, settings):
            if not busy_is_error:
                return Started(run_id, period, "attached", count)
            raise RunBusy(
                f"billing run {run_id} is still {run.status.value} (last progress "
                f"{_ago(last_activity(session, run))}); wait for it, or retry once it is stalled"
            )
        if check_volumes:
            check_volume_size(session, run_id, settings)
        todo = _needs_rendering(session, run_id)
        output_ok = not printed_count(session, run_id) or (
            run.output_path is not None
            and _sha_matches(run.output_path, run.sha256)
            and all(_sha_matches(v.output_path, v.sha256) for v in run.volumes)
        )
        if not todo and run.status in FINAL and output_ok:
            return Started(run_id, period, "complete", count)
        if todo:
            # Never sent, so they may take corrected bill-to data; the numbers stay.
            refresh_unsent(session, settings, todo)
            session.execute(
                update(Invoice).where(Invoice.id.in_(todo)).values(status=InvoiceStatus.PENDING, error=None)
            )
        run.status = RunStatus.RENDERING if todo else RunStatus.MERGING
        run.error = None
        run.dispatched_at = datetime.now(UTC)
        run.dispatched_by = identity(settings)
        # Whoever merged the earlier dispatch is done with it: its body never waits on it.
        run.merge_lease = run.merge_lease_until = None
    if todo:
        dispatch(run_id, todo, workers, settings)
        return Started(run_id, period, "resumed", count, dispatched=len(todo))
    unsubscribe([_merge_run(run_id).apply_async().id])
    return Started(run_id, period, "merging", count)


def _ago(moment: datetime) -> str:
    seconds = int((datetime.now(UTC) - moment).total_seconds())
    return f"{seconds} s ago" if seconds < 120 else f"{seconds // 60} min ago"


def _needs_rendering(session: Session, run_id: int) -> list[int]:
    rows = session.execute(
        select(Invoice.id, Invoice.status, Invoice.pdf_path)
        .where(Invoice.run_id == run_id)
        .order_by(Invoice.seq)
    ).all()
    there = present(path for _, status, path in rows if status == InvoiceStatus.RENDERED and path)
    return [
        invoice_id
        for invoice_id, status, pdf_path in rows
        if status != InvoiceStatus.RENDERED or not pdf_path or pdf_path not in there
    ]


def _sha_matches(location: str, expected: str | None) -> bool:
    if not expected:
        return False
    return store_at(location).sha256(location) == expected


def salvage(run_id: int, reason: str) -> None:
    """A header task raised: fail its unfinished invoices and merge the rest."""
    with session_scope() as session:
        session.execute(
            update(Invoice)
            .where(Invoice.run_id == run_id, Invoice.status == InvoiceStatus.PENDING)
            .values(status=InvoiceStatus.FAILED, error=reason[:2000], rendered_at=datetime.now(UTC))
        )
    app.send_task("invoicing.merge_run", args=(run_id,))


def record_run_error(run_id: int, reason: str) -> None:
    with session_scope() as session:
        run = session.get(BillingRun, run_id)
        if run is not None and run.status not in FINAL:
            run.status = RunStatus.FAILED
            run.error = reason[:2000]
            run.finished_at = datetime.now(UTC)
            tell_run_finished(session, run)


def reconcile(settings: Settings | None = None) -> list[Started]:
    """Resume every open run nobody is working on any more."""
    settings = settings or get_settings()
    with session_scope() as session:
        candidates = session.scalars(
            select(BillingRun).where(
                BillingRun.status.not_in(FINAL)
                | ((BillingRun.status == RunStatus.FAILED) & BillingRun.output_path.is_(None))
            )
        ).all()
        stalled = [run.id for run in candidates if is_stalled(session, run, settings)]
    # Unattended: a volume size too small fails the run in its body, with that reason.
    return [resume(run_id, settings=settings, check_volumes=False) for run_id in stalled]


def preview(period: Period, settings: Settings | None = None) -> Preview:
    """What `start_or_resume(period)` would issue now (`run --dry-run`); writes nothing."""
    settings = settings or get_settings()
    with session_scope() as session:
        latest = latest_run(session, period)
        if latest is not None and latest.status not in FINAL:
            return Preview(
                str(period),
                "none",
                note=(
                    f"billing run {latest.id} is still {latest.status.value}: "
                    f"`invoicing run --period {period}` follows it, `invoicing status {latest.id}` shows it"
                ),
            )
        kind = RunKind.BILLING if latest is None else RunKind.SUPPLEMENT
        planned = preview_run(session, settings, period, kind.value)
        if latest is not None and not planned.invoices:
            planned.kind = "none"
            stuck = planned.skipped.get(CANNOT_BILL, 0)
            planned.note = f"billing run {latest.id} is {latest.status.value}; " + (
                f"{plural(stuck, 'subscriber')} left cannot be billed as their data stands"
                if stuck
                else "nobody is left to bill"
            )
        session.rollback()  # nothing was written; make sure nothing is
        return planned
