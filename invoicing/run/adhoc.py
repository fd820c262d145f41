"""The one-off merge: given subscribers' invoices for a period, in the order given, in one
file (`invoicing merge`), for a print shop batch or an accountant's question.

Invoices not rendered yet are rendered first, by the run's own header task.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from celery import group
from sqlalchemy import select

from invoicing.billing import Period, active_in
from invoicing.billing.void import record_released
from invoicing.config import Settings, get_settings
from invoicing.db import session_scope
from invoicing.errors import UsageError
from invoicing.models import BillingRun, DocumentKind, Invoice, InvoiceStatus, Subscriber
from invoicing.pdf import Merged, MergeError, Part, merge_pdfs
from invoicing.run.dispatch import batch_size, batches, render_batch_signature
from invoicing.run.outputs import output_refusal
from invoicing.run.runtime import unsubscribe
from invoicing.storage import present, read


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
    check_output(output, force, settings)
    with session_scope() as session:
        rows = session.execute(
            select(
                Subscriber.account,
                Invoice.bill_name.label("name"),
                Invoice.id,
                Invoice.number,
                Invoice.status,
                Invoice.pdf_path,
                active_in(period).label("billable"),
            )
            .outerjoin(
                Invoice,
                (Invoice.subscriber_id == Subscriber.id)
                & (Invoice.period == str(period))
                & (Invoice.kind == DocumentKind.INVOICE)
                & Invoice.voided_at.is_(None),
            )
            .where(Subscriber.account.in_(set(accounts)))
        ).all()
        period_has_run = session.scalar(
            select(BillingRun.id).where(BillingRun.period == str(period)).limit(1)
        )
    found = {row.account: row for row in rows}
    unknown = [a for a in accounts if a not in found]
    if unknown:
        raise MergeRequestError(
            f"{'unknown accounts' if len(unknown) > 1 else 'unknown account'}: {', '.join(unknown)}"
        )
    not_billable = [a for a in accounts if found[a].id is None and not found[a].billable]
    if not_billable:
        raise MergeRequestError(
            f"not billable in {period} (not active in that month): {', '.join(not_billable)}"
        )
    missing = [a for a in accounts if found[a].id is None]
    if missing:
        if period_has_run is None:
            advice = f"the period has no billing run yet: run `invoicing run --period {period}` first"
        else:
            advice = (
                f"added after the period's run: `invoicing run --period {period}` issues them in a supplement"
            )
        raise MergeRequestError(f"no invoice for {period} ({advice}): {', '.join(missing)}")
    there = present(found[a].pdf_path for a in accounts if found[a].pdf_path)
    todo = sorted(
        {
            found[a].id
            for a in accounts
            if found[a].status != InvoiceStatus.RENDERED
            or not found[a].pdf_path
            or found[a].pdf_path not in there
        }
    )
    if todo:
        size = batch_size(len(todo), workers, settings)
        job = group(render_batch_signature(chunk) for chunk in batches(todo, size)).apply_async()
        try:
            job.get(timeout=timeout, disable_sync_subtasks=False)
        finally:
            unsubscribe(member.id for member in job.results)
    with session_scope() as session:
        state = {
            inv.id: (inv.status, inv.pdf_path, inv.error, inv.sha256)
            for inv in session.scalars(select(Invoice).where(Invoice.id.in_([found[a].id for a in accounts])))
        }
    files: dict[str, tuple[str, str | None]] = {}
    failed = []
    for account in accounts:
        status, pdf_path, error, sha256 = state[found[account].id]
        if status == InvoiceStatus.RENDERED and pdf_path:
            files[account] = (pdf_path, sha256)
        else:
            failed.append(f"{account} ({error})")
    if failed:
        raise MergeError(f"cannot render the invoice of {', '.join(failed)}")
    # No sha256 on the parts: these are read, checked, and parsed (the run's fragments are not used).
    parts = [Part(files[a][0], f"{found[a].number} — {found[a].name}", found[a].number) for a in accounts]
    checks = {files[a][0]: files[a][1] for a in accounts}
    merged = merge_pdfs(parts, output, read_part=lambda part: read(str(part.path), checks[str(part.path)]))
    with session_scope() as session:
        record_released(session, [found[a].id for a in accounts], "merge")
    return merged


def check_output(output: Path, force: bool, settings: Settings) -> None:
    """Refuse, before any work, an output that cannot be written or would replace a
    run's file (run/outputs.py)."""
    problem = output_refusal(output, force, settings)
    if problem is not None:
        raise MergeRequestError(problem)
