"""The read model of billing runs: what `run`, `status`, `runs` and the chord body report.

One `RunSummary` is what a run came to; the body task returns it, `run --json` prints
it, `status --json` prints it with the report's details, and `runs` lists it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, aliased

from invoicing.billing.counts import count_by_status, unbilled_charges
from invoicing.billing.money import round_money
from invoicing.config import Settings, get_settings
from invoicing.db import session_scope
from invoicing.delivery.report import counts_of_runs, run_delivery
from invoicing.delivery.webhooks import counts as webhook_counts
from invoicing.errors import BillingError
from invoicing.models import BillingRun, Charge, DocumentKind, Invoice, InvoiceStatus, RunSkip, Subscriber
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
    kind: str  # billing | supplement | credit
    # The merged output's files: [{"volume", "output", "sha256", "pages", "invoices"}],
    # one without INVOICING_VOLUME_MAX_PAGES, none before the run was merged.
    volumes: tuple[dict[str, Any], ...]

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
            "volumes": list(self.volumes),
        }

    def listing(self) -> dict[str, Any]:
        """A row of `invoicing runs`: the summary without the checksum, with when and what."""
        row = {key: value for key, value in self.as_dict().items() if key != "sha256"}
        return row | {"created_at": self.created_at, "kind": self.kind}


@dataclass(frozen=True)
class RunReport(RunSummary):
    """The summary and what `status` adds: progress, the stall rule, the failed invoices."""

    rendered: int
    pending: int
    stalled: bool
    error: str | None
    finished_at: str | None
    failures: list[dict[str, str]]
    # Every run of the period (its billing run, supplements, credit runs), oldest first.
    period_runs: list[dict[str, Any]]
    # This run's invoices that have credit notes: how much is credited, and what is left.
    credited: list[dict[str, str]]
    # Charges that arrived after their period was billed, not billed yet (all subscribers).
    charges_waiting: int
    charges_unbillable: int
    # Subscribers the run could not bill as their data stood: account, reason, and the
    # invoice a later run gave them once corrected (None: still unbilled).
    skipped: list[dict[str, str | None]]
    # Charges of earlier periods this run's invoices picked up: account, description,
    # period, amount (net, as on the invoice's line), currency, invoice.
    late_charges: list[dict[str, str]]
    # Why the run was voided (`invoicing void`), None while it is not void.
    void_reason: str | None
    # Webhook events of every run, per state (pending, delivered, failed).
    webhooks: dict[str, int]
    # The run's e-mail invoices per delivery state, and the failed and bounced ones.
    delivery: dict[str, Any]

    @property
    def unbilled_skips(self) -> int:
        return sum(1 for item in self.skipped if item["billed"] is None)

    def status_dict(self) -> dict[str, Any]:
        """`invoicing status --json`."""
        return self.as_dict() | {
            "kind": self.kind,
            "rendered": self.rendered,
            "pending": self.pending,
            "stalled": self.stalled,
            "error": self.error,
            "created_at": self.created_at,
            "finished_at": self.finished_at,
            "failures": self.failures,
            "period_runs": self.period_runs,
            "credited": self.credited,
            "charges_waiting": self.charges_waiting,
            "charges_unbillable": self.charges_unbillable,
            "skipped": self.skipped,
            "late_charges": self.late_charges,
            "void_reason": self.void_reason,
            "webhooks": self.webhooks,
            "delivery": self.delivery,
        }


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
        "kind": run.kind.value,
        "volumes": tuple(
            {
                "volume": v.number,
                "output": v.output_path,
                "sha256": v.sha256,
                "pages": v.pages,
                "invoices": v.invoices,
            }
            for v in run.volumes
        ),
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
        waiting, unbillable = unbilled_charges(session)
        return RunReport(
            **(_summary_fields(run) | {"failed": failed}),
            rendered=counts[InvoiceStatus.RENDERED],
            pending=counts[InvoiceStatus.PENDING],
            stalled=is_stalled(session, run, settings),
            error=run.error,
            finished_at=aware(run.finished_at).isoformat(timespec="seconds") if run.finished_at else None,
            failures=[{"number": n, "account": a, "error": e or ""} for n, a, e in failed_rows],
            period_runs=[
                summary_of(r).listing()
                for r in session.scalars(
                    select(BillingRun).where(BillingRun.period == run.period).order_by(BillingRun.seq)
                )
            ],
            credited=_credited(session, run.id),
            charges_waiting=waiting,
            charges_unbillable=unbillable,
            skipped=_skipped(session, run),
            late_charges=_late_charges(session, run),
            void_reason=run.void_reason,
            webhooks=webhook_counts(session),
            delivery=run_delivery(run.id),
        )


def _late_charges(session: Session, run: BillingRun, limit: int = 10_000) -> list[dict[str, str]]:
    """The charges of earlier periods the run's invoices billed, in number order."""
    rows = session.execute(
        select(
            Subscriber.account,
            Charge.description,
            Charge.period,
            Charge.quantity,
            Charge.unit_price,
            Invoice.currency,
            Invoice.number,
        )
        .join(Invoice, Invoice.id == Charge.invoice_id)
        .join(Subscriber, Subscriber.id == Charge.subscriber_id)
        .where(Invoice.run_id == run.id, Charge.period != run.period)
        .order_by(Invoice.seq, Charge.period, Charge.id)
        .limit(limit)
    )
    return [
        {
            "account": account,
            "description": description,
            "period": period,
            "amount": str(round_money(quantity * unit_price, currency)),
            "currency": currency,
            "invoice": number,
        }
        for account, description, period, quantity, unit_price, currency, number in rows
    ]


def _skipped(session: Session, run: BillingRun) -> list[dict[str, str | None]]:
    billed = (
        select(Invoice.number)
        .where(
            Invoice.subscriber_id == RunSkip.subscriber_id,
            Invoice.period == run.period,
            Invoice.kind == DocumentKind.INVOICE,
            Invoice.voided_at.is_(None),
        )
        .scalar_subquery()
    )
    rows = session.execute(
        select(RunSkip.account, RunSkip.reason, billed)
        .where(RunSkip.run_id == run.id)
        .order_by(RunSkip.account)
    )
    return [{"account": account, "reason": reason, "billed": number} for account, reason, number in rows]


def _credited(session: Session, run_id: int) -> list[dict[str, str]]:
    notes = aliased(Invoice)
    rows = session.execute(
        select(Invoice.id, Invoice.number, Invoice.total, notes.total)
        .join(notes, notes.credited_invoice_id == Invoice.id)
        .where(Invoice.run_id == run_id)
        .order_by(Invoice.seq, notes.seq)
    ).all()
    credited: dict[int, list[Any]] = {}
    for invoice_id, number, total, note_total in rows:
        entry = credited.setdefault(invoice_id, [number, total, Decimal(0)])
        entry[2] -= note_total
    return [
        {
            "number": number,
            "total": str(total),
            "credited": str(done),
            "state": "credited" if done >= total else "partly credited",
        }
        for number, total, done in credited.values()
    ]


@dataclass(frozen=True)
class CreditNoteState:
    number: str
    credited: str  # the invoice's number
    total: Decimal
    currency: str
    pdf_path: str | None
    sha256: str | None
    error: str | None


def credit_note_of_run(run_id: int) -> CreditNoteState:
    """The credit note a credit run issued, as it stands now."""
    with session_scope() as session:
        original = aliased(Invoice)
        row = session.execute(
            select(Invoice, original.number)
            .join(original, original.id == Invoice.credited_invoice_id)
            .where(Invoice.run_id == run_id, Invoice.kind == DocumentKind.CREDIT_NOTE)
        ).one()
        note, credited = row
        return CreditNoteState(
            note.number, credited, note.total, note.currency, note.pdf_path, note.sha256, note.error
        )


def list_runs(limit: int = 50) -> list[dict[str, Any]]:
    """The newest runs, as `invoicing runs` lists them, with when each finished and their
    e-mail invoices per delivery state."""
    with session_scope() as session:
        runs = session.scalars(select(BillingRun).order_by(BillingRun.id.desc()).limit(limit)).all()
        items = [summary_of(run).listing() | {"finished_at": _moment(run.finished_at)} for run in runs]
    delivered = counts_of_runs([item["run_id"] for item in items])
    return [item | {"delivery": delivered[item["run_id"]]} for item in items]


def _moment(moment: datetime | None) -> str | None:
    return aware(moment).isoformat(timespec="seconds") if moment is not None else None


def progress(run_id: int) -> tuple[str, dict[InvoiceStatus, int], int]:
    """The run's status, its invoices by status, and how many it has."""
    with session_scope() as session:
        run = session.get(BillingRun, run_id)
        if run is None:
            raise BillingError(f"no billing run {run_id}")
        return run.status.value, count_by_status(session, run_id), run.invoice_count
