"""Builds and sends the chords: the billing run, the one-off merge, the demo.

A run is issued (numbers, totals) in one transaction and committed before any task is
sent; tasks carry invoice ids only. The run's state lives in the database, so a second
`run`, `retry`, `status` and the reconciler work from any machine.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from celery import chord, group
from celery.exceptions import TimeoutError as CeleryTimeoutError
from celery.result import GroupResult
from kombu.utils.uuid import uuid
from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError

from invoicing.billing import BillingError, Period, count_by_status, create_run
from invoicing.billing.issue import refresh_unsent
from invoicing.celery import app
from invoicing.config import Settings, get_settings
from invoicing.db import session_scope
from invoicing.errors import InvoicingError, UsageError
from invoicing.models import BillingRun, Invoice, InvoiceStatus, RunStatus, Subscriber
from invoicing.pdf import Merged, MergeError, Part, merge_pdfs
from invoicing.run import steps
from invoicing.run.runtime import embedded_owner_alive, identity
from invoicing.run.tasks import amass, chord_failed, merge_run, power, render_batch

FINAL = (RunStatus.COMPLETED, RunStatus.COMPLETED_WITH_ERRORS, RunStatus.FAILED)
EMBEDDED_MAX_TASKS = 1000  # the in-memory result backend keeps at most 5,000 entries
REDIS_MAX_BATCH = 50


class RunBusy(InvoicingError):
    """The run is still being worked on; doing more now would render twice."""


# --- batching ------------------------------------------------------------------------------


def batch_size(invoices: int, workers: int, settings: Settings) -> int:
    """Invoices per header task.

    One message per invoice costs more in broker round trips than the render itself,
    so batch: about eight batches per worker process keeps them all busy to the end,
    capped so a retry redoes little. The embedded backend is an LRU of 5,000 results,
    so there the number of header tasks is bounded as well.
    """
    if settings.batch_size:
        size = settings.batch_size
    else:
        size = max(1, min(REDIS_MAX_BATCH, math.ceil(invoices / (max(workers, 1) * 8))))
    if settings.embedded:
        size = max(size, math.ceil(invoices / EMBEDDED_MAX_TASKS))
    return size


def batches(ids: Sequence[int], size: int) -> list[list[int]]:
    return [list(ids[start : start + size]) for start in range(0, len(ids), size)]


# --- starting, resuming, dispatching --------------------------------------------------------


@dataclass(frozen=True)
class Started:
    run_id: int
    period: str
    action: str  # created | resumed | attached | merging | complete
    invoices: int
    dispatched: int = 0  # invoices sent to workers now


def start_or_resume(
    period: Period | None = None, workers: int = 2, settings: Settings | None = None
) -> Started:
    """Issue the period's run and dispatch it, or resume the run the period already has.

    The unique period on billing_runs makes a concurrent second start fail its insert;
    it then resumes (or attaches to) the winner's run instead of billing anyone twice.
    """
    settings = settings or get_settings()
    period = period or Period.previous()
    ids: list[int] = []
    run_id = count = 0
    try:
        with session_scope() as session:
            existing = session.scalar(select(BillingRun.id).where(BillingRun.period == str(period)))
            if existing is None:
                run = create_run(session, settings, period)
                run.dispatched_by = identity(settings)
                run_id, count = run.id, run.invoice_count
                ids = list(
                    session.scalars(select(Invoice.id).where(Invoice.run_id == run_id).order_by(Invoice.seq))
                )
        # Committed: the invoices exist before any task that refers to them is sent.
    except IntegrityError:
        existing = _run_id_for(str(period))
        if existing is None:
            raise
    if existing is not None:
        return resume(existing, workers=workers, settings=settings)
    if not ids:
        steps.merge_run(run_id, settings)
        return Started(run_id, str(period), "created", 0)
    dispatch(run_id, ids, workers, settings)
    return Started(run_id, str(period), "created", count, dispatched=len(ids))


def ids_of_run(run_id: int) -> list[int]:
    with session_scope() as session:
        return list(session.scalars(select(Invoice.id).where(Invoice.run_id == run_id).order_by(Invoice.seq)))


def _run_id_for(period: str) -> int | None:
    with session_scope() as session:
        return session.scalar(select(BillingRun.id).where(BillingRun.period == period))


def dispatch(run_id: int, invoice_ids: Sequence[int], workers: int, settings: Settings) -> str:
    """Send the chord; returns the id of its body (the merge)."""
    size = batch_size(len(invoice_ids), workers, settings)
    header = [render_batch.si(chunk).set(task_id=uuid()) for chunk in batches(invoice_ids, size)]
    body = merge_run.si(run_id).on_error(chord_failed.s(run_id))
    body_id = chord(header)(body).id
    _unsubscribe([body_id, *(sig.id for sig in header)])
    with session_scope() as session:
        session.execute(
            update(BillingRun)
            .where(BillingRun.id == run_id)
            .values(dispatched_at=datetime.now(UTC), dispatched_by=identity(settings))
        )
    return body_id


def _unsubscribe(task_ids: Iterable[str]) -> None:
    """Runs are followed in the database, not the result backend, but Redis' backend
    subscribes to the result of every task sent. Drop those subscriptions now rather
    than in AsyncResult.__del__ at interpreter exit, when Redis can't be reached."""
    consumer = getattr(app.backend, "result_consumer", None)
    if consumer is not None:
        for task_id in task_ids:
            consumer.cancel_for(task_id)


def last_activity(session: Any, run: BillingRun) -> datetime:
    latest = session.scalar(select(func.max(Invoice.rendered_at)).where(Invoice.run_id == run.id))
    moments = [m for m in (run.created_at, run.dispatched_at, latest, run.finished_at) if m is not None]
    return max(_aware(m) for m in moments)


def _aware(moment: datetime) -> datetime:
    # SQLite hands back naive datetimes; everything stored here is UTC.
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def is_stalled(session: Any, run: BillingRun, settings: Settings) -> bool:
    """Open (rendering/merging) but nobody is working on it any more, or every invoice
    is done and the merged file is missing because the merge failed."""
    if run.status == RunStatus.FAILED and run.output_path is None:
        return bool(count_by_status(session, run.id)[InvoiceStatus.RENDERED])
    if run.status in FINAL:
        return False
    if not embedded_owner_alive(run.dispatched_by):
        return True
    idle = datetime.now(UTC) - last_activity(session, run)
    return idle > timedelta(seconds=settings.stall_after_s)


def resume(
    run_id: int, workers: int = 2, settings: Settings | None = None, busy_is_error: bool = False
) -> Started:
    """Render what is missing or failed, then merge again; never issues new invoices.

    A run that is still being worked on is left alone (action "attached") unless
    `busy_is_error` (then RunBusy): dispatching it twice would only render twice.
    """
    settings = settings or get_settings()
    with session_scope() as session:
        run = session.get(BillingRun, run_id, with_for_update=True)
        if run is None:
            raise BillingError(f"no billing run {run_id}")
        period, count = run.period, run.invoice_count
        if run.status not in FINAL and not busy_is_error and not is_stalled(session, run, settings):
            return Started(run_id, period, "attached", count)
        if run.status not in FINAL and busy_is_error and not is_stalled(session, run, settings):
            raise RunBusy(
                f"billing run {run_id} is still {run.status.value} (last progress "
                f"{_ago(last_activity(session, run))}); wait for it, or retry once it is stalled"
            )
        todo = _needs_rendering(session, run_id)
        output_ok = run.output_path is not None and _sha_matches(Path(run.output_path), run.sha256)
        if not todo and run.status in FINAL and output_ok:
            return Started(run_id, period, "complete", count)
        if todo:
            refresh_unsent(session, todo)
            session.execute(
                update(Invoice).where(Invoice.id.in_(todo)).values(status=InvoiceStatus.PENDING, error=None)
            )
        run.status = RunStatus.RENDERING if todo else RunStatus.MERGING
        run.error = None
        run.dispatched_at = datetime.now(UTC)
        run.dispatched_by = identity(settings)
    if todo:
        dispatch(run_id, todo, workers, settings)
        return Started(run_id, period, "resumed", count, dispatched=len(todo))
    body_id = merge_run.apply_async((run_id,), link_error=chord_failed.s(run_id)).id
    _unsubscribe([body_id])
    return Started(run_id, period, "merging", count)


def _ago(moment: datetime) -> str:
    seconds = int((datetime.now(UTC) - moment).total_seconds())
    return f"{seconds} s ago" if seconds < 120 else f"{seconds // 60} min ago"


def _needs_rendering(session: Any, run_id: int) -> list[int]:
    rows = session.execute(
        select(Invoice.id, Invoice.status, Invoice.pdf_path)
        .where(Invoice.run_id == run_id)
        .order_by(Invoice.seq)
    ).all()
    return [
        invoice_id
        for invoice_id, status, pdf_path in rows
        if status != InvoiceStatus.RENDERED or not pdf_path or not Path(pdf_path).is_file()
    ]


def _sha_matches(path: Path, expected: str | None) -> bool:
    if not expected or not path.is_file():
        return False
    from invoicing.files import file_sha256

    return file_sha256(path)[0] == expected


def salvage(run_id: int, reason: str) -> None:
    """A header task raised: fail its unfinished invoices and merge the rest."""
    with session_scope() as session:
        session.execute(
            update(Invoice)
            .where(Invoice.run_id == run_id, Invoice.status == InvoiceStatus.PENDING)
            .values(status=InvoiceStatus.FAILED, error=reason[:2000], rendered_at=datetime.now(UTC))
        )
    merge_run.delay(run_id)


def record_run_error(run_id: int, reason: str) -> None:
    with session_scope() as session:
        run = session.get(BillingRun, run_id)
        if run is not None and run.status not in FINAL:
            run.status = RunStatus.FAILED
            run.error = reason[:2000]
            run.finished_at = datetime.now(UTC)


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
    return [resume(run_id, settings=settings) for run_id in stalled]


# --- reporting -------------------------------------------------------------------------------


@dataclass
class RunReport:
    run_id: int
    period: str
    status: str
    invoices: int
    failed: int
    pages: int | None
    output: str | None
    sha256: str | None
    rendered: int = 0
    pending: int = 0
    stalled: bool = False
    error: str | None = None
    created_at: str | None = None
    finished_at: str | None = None
    failures: list[dict[str, str]] = field(default_factory=list)

    def summary(self) -> dict[str, Any]:
        return {
            "run_id": self.run_id,
            "period": self.period,
            "status": self.status,
            "invoices": self.invoices,
            "failed": self.failed,
            "pages": self.pages,
            "output": self.output,
            "sha256": self.sha256,
        }


def report(run_id: int | None = None, settings: Settings | None = None, failures: int = 100) -> RunReport:
    settings = settings or get_settings()
    with session_scope() as session:
        if run_id is None:
            run = session.scalar(select(BillingRun).order_by(BillingRun.id.desc()).limit(1))
            if run is None:
                raise BillingError("no billing runs yet: start one with `invoicing run`")
        else:
            run = session.get(BillingRun, run_id)
            if run is None:
                raise BillingError(f"no billing run {run_id}")
        counts = count_by_status(session, run.id)
        failed_rows = session.execute(
            select(Invoice.number, Subscriber.account, Invoice.error)
            .join(Subscriber, Subscriber.id == Invoice.subscriber_id)
            .where(Invoice.run_id == run.id, Invoice.status == InvoiceStatus.FAILED)
            .order_by(Invoice.seq)
            .limit(failures)
        ).all()
        done = run.status in FINAL
        return RunReport(
            run_id=run.id,
            period=run.period,
            status=run.status.value,
            invoices=run.invoice_count,
            failed=counts[InvoiceStatus.FAILED] if not done else run.failed_count,
            pages=run.pages,
            output=run.output_path,
            sha256=run.sha256,
            rendered=counts[InvoiceStatus.RENDERED],
            pending=counts[InvoiceStatus.PENDING],
            stalled=is_stalled(session, run, settings),
            error=run.error,
            created_at=_aware(run.created_at).isoformat(timespec="seconds"),
            finished_at=_aware(run.finished_at).isoformat(timespec="seconds") if run.finished_at else None,
            failures=[{"number": n, "account": a, "error": e or ""} for n, a, e in failed_rows],
        )


def list_runs(limit: int = 50) -> list[dict[str, Any]]:
    with session_scope() as session:
        runs = session.scalars(select(BillingRun).order_by(BillingRun.id.desc()).limit(limit)).all()
        return [
            {
                "run_id": r.id,
                "period": r.period,
                "status": r.status.value,
                "invoices": r.invoice_count,
                "failed": r.failed_count,
                "pages": r.pages,
                "created_at": _aware(r.created_at).isoformat(timespec="seconds"),
                "output": r.output_path,
            }
            for r in runs
        ]


def progress(run_id: int) -> tuple[str, dict[InvoiceStatus, int], int]:
    with session_scope() as session:
        run = session.get(BillingRun, run_id)
        assert run is not None
        return run.status.value, count_by_status(session, run_id), run.invoice_count


# --- one-off merge --------------------------------------------------------------------------


class MergeRequestError(UsageError):
    """Bad accounts or output for `invoicing merge`; nothing was written."""


def merge_accounts(
    accounts: Sequence[str],
    period: Period,
    output: Path,
    force: bool,
    workers: int = 2,
    settings: Settings | None = None,
    timeout: float = 3600,
) -> Merged:
    """The given subscribers' invoices for the period, in the order given, in one file."""
    settings = settings or get_settings()
    check_output(output, force)
    with session_scope() as session:
        rows = session.execute(
            select(
                Subscriber.account,
                Subscriber.name,
                Invoice.id,
                Invoice.number,
                Invoice.status,
                Invoice.pdf_path,
            )
            .outerjoin(Invoice, (Invoice.subscriber_id == Subscriber.id) & (Invoice.period == str(period)))
            .where(Subscriber.account.in_(set(accounts)))
        ).all()
    found = {row.account: row for row in rows}
    unknown = [a for a in accounts if a not in found]
    if unknown:
        raise MergeRequestError(f"unknown account(s): {', '.join(unknown)}")
    missing = [a for a in accounts if found[a].id is None]
    if missing:
        raise MergeRequestError(
            f"no invoice for {period} (run `invoicing run --period {period}` first): {', '.join(missing)}"
        )
    todo = sorted(
        {
            found[a].id
            for a in accounts
            if found[a].status != InvoiceStatus.RENDERED
            or not found[a].pdf_path
            or not Path(found[a].pdf_path).is_file()
        }
    )
    if todo:
        size = batch_size(len(todo), workers, settings)
        job = group(render_batch.si(chunk) for chunk in batches(todo, size)).apply_async()
        job.get(timeout=timeout, disable_sync_subtasks=False)
    with session_scope() as session:
        state = {
            inv.id: (inv.status, inv.pdf_path, inv.error)
            for inv in session.scalars(select(Invoice).where(Invoice.id.in_([found[a].id for a in accounts])))
        }
    failed = [
        f"{a} ({state[found[a].id][2]})" for a in accounts if state[found[a].id][0] != InvoiceStatus.RENDERED
    ]
    if failed:
        raise MergeError(f"cannot render the invoice of {', '.join(failed)}")
    parts = [
        Part(Path(state[found[a].id][1]), f"{found[a].number} — {found[a].name}", found[a].number)
        for a in accounts
    ]
    return merge_pdfs(parts, output)


def check_output(output: Path, force: bool) -> None:
    if output.is_dir():
        raise MergeRequestError(f"-o {output}: is a directory; give a file name")
    if output.exists() and not force:
        raise MergeRequestError(f"-o {output}: already exists; use --force to replace it")
    parent = output.parent if str(output.parent) else Path(".")
    if not parent.is_dir():
        raise MergeRequestError(f"-o {output}: folder {parent} does not exist")
    import os

    if not os.access(parent, os.W_OK):
        raise MergeRequestError(f"-o {output}: folder {parent} is not writable")


# --- demo -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class DemoResult:
    total: int | None
    failed_task: str | None = None
    error: str | None = None


def demo(count: int, fail_at: int | None, delay: bool, timeout: float = 120) -> DemoResult:
    """The classic chord: power(i, 2) for i in range(count) in the header, amass in the body."""
    result = chord(power.s(i, 2, fail_at, delay) for i in range(count))(amass.s())
    try:
        return DemoResult(int(result.get(timeout=timeout, interval=0.05, disable_sync_subtasks=False)))
    except CeleryTimeoutError:
        raise
    except Exception as exc:  # noqa: BLE001 - the header's own exception, re-raised by get()
        # get() re-raises the failed header task's exception (or a ChordError naming it).
        header = result.parent
        culprit = _failed_member(header) if isinstance(header, GroupResult) else None
        return DemoResult(None, culprit, f"{type(exc).__name__}: {exc}")


def _failed_member(header: GroupResult) -> str | None:
    for member in header.results:
        if member.failed():
            return f"task {member.id}: {type(member.result).__name__}: {member.result}"
    return None


def iter_accounts(text: str) -> Iterable[str]:
    for raw in text.replace(",", "\n").splitlines():
        account = raw.strip()
        if account and not account.startswith("#"):
            yield account
