"""The read model of billing runs: what `run`, `status`, `runs` and the chord body report.

One `RunSummary` is what a run came to; the body task returns it, `run --json` prints
it, `status --json` prints it with the report's details, and `runs` lists it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import select

from invoicing.billing import BillingError, count_by_status
from invoicing.config import Settings, get_settings
from invoicing.db import session_scope
from invoicing.models import BillingRun, Invoice, InvoiceStatus, Subscriber
from invoicing.run.state import FINAL, aware, is_stalled


@dataclass(frozen=True)
class RunSummary:
    run_id: int
    period: str
    status: str
    invoices: int
    failed: int
    pages: int | None
    output: str | None
    sha256: str | None
    created_at: str  # ISO 8601, seconds, UTC

    def as_dict(self) -> dict[str, Any]:
        """The summary in `--json` output and the chord body's result."""
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

    def listing(self) -> dict[str, Any]:
        """A row of `invoicing runs`."""
        return {
            "run_id": self.run_id,
            "period": self.period,
            "status": self.status,
            "invoices": self.invoices,
            "failed": self.failed,
            "pages": self.pages,
            "created_at": self.created_at,
            "output": self.output,
        }


@dataclass(frozen=True)
class RunReport(RunSummary):
    """The summary and what `status` adds: progress, the stall rule, the failed invoices."""

    rendered: int
    pending: int
    stalled: bool
    error: str | None
    finished_at: str | None
    failures: list[dict[str, str]]


def summary_of(run: BillingRun) -> RunSummary:
    return RunSummary(**_summary_fields(run))


def run_summary(run_id: int) -> RunSummary:
    with session_scope() as session:
        run = session.get(BillingRun, run_id)
        if run is None:
            raise BillingError(f"no billing run {run_id}")
        return summary_of(run)


def _summary_fields(run: BillingRun) -> dict[str, Any]:
    return {
        "run_id": run.id,
        "period": run.period,
        "status": run.status.value,
        "invoices": run.invoice_count,
        "failed": run.failed_count,
        "pages": run.pages,
        "output": run.output_path,
        "sha256": run.sha256,
        "created_at": aware(run.created_at).isoformat(timespec="seconds"),
    }


def report(run_id: int | None = None, settings: Settings | None = None, failures: int = 100) -> RunReport:
    """One run (default: the latest) with up to `failures` of its failed invoices."""
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
        # An open run's failed count is only recorded when it is merged.
        failed = run.failed_count if run.status in FINAL else counts[InvoiceStatus.FAILED]
        return RunReport(
            **(_summary_fields(run) | {"failed": failed}),
            rendered=counts[InvoiceStatus.RENDERED],
            pending=counts[InvoiceStatus.PENDING],
            stalled=is_stalled(session, run, settings),
            error=run.error,
            finished_at=aware(run.finished_at).isoformat(timespec="seconds") if run.finished_at else None,
            failures=[{"number": n, "account": a, "error": e or ""} for n, a, e in failed_rows],
        )


def list_runs(limit: int = 50) -> list[dict[str, Any]]:
    """The newest runs, as `invoicing runs` lists them."""
    with session_scope() as session:
        runs = session.scalars(select(BillingRun).order_by(BillingRun.id.desc()).limit(limit)).all()
        return [summary_of(run).listing() for run in runs]


def progress(run_id: int) -> tuple[str, dict[InvoiceStatus, int], int]:
    """The run's status, its invoices by status, and how many it has."""
    with session_scope() as session:
        run = session.get(BillingRun, run_id)
        if run is None:
            raise BillingError(f"no billing run {run_id}")
        return run.status.value, count_by_status(session, run_id), run.invoice_count
