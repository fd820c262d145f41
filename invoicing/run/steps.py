"""The steps of a billing run as plain functions over the database and the output storage.

`tasks` wraps them for Celery; `dispatch` and tests call them directly.
Every step is idempotent: running it twice (a redelivered message, a retry, a resumed
run) gives the same files and the same rows.
"""

from __future__ import annotations

import errno
import hashlib
import logging
import re
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, BinaryIO

from sqlalchemy import Row, Select, and_, func, select, update
from sqlalchemy.orm import Session

from invoicing.billing.counts import count_by_status
from invoicing.billing.documents import Issued, issued_batch, seller_from
from invoicing.config import Settings, get_settings
from invoicing.db import session_scope
from invoicing.delivery.webhooks import emit
from invoicing.errors import plural
from invoicing.models import PRINTED, BillingRun, Invoice, InvoiceStatus, RunStatus, Subscriber
from invoicing.pdf import Merged, MergeError, Part, merge_pdfs, write_fragments
from invoicing.pdf.documents import InvoiceDocument
from invoicing.pdf.einvoice import EInvoiceError, render_einvoice
from invoicing.pdf.fragments import Fragment
from invoicing.pdf.render import render_prelinked
from invoicing.run import lease
from invoicing.run.arguments import InvoiceRange
from invoicing.run.paths import fragments_dir, invoice_path, merged_path
from invoicing.run.printing import (
    Manifest,
    earlier_volumes,
    layout_of,
    record_volumes,
    remove_stale_volumes,
    volume_too_small,
)
from invoicing.run.report import RunSummary, summary_of
from invoicing.run.state import FINAL, aware
from invoicing.run.transient import is_transient
from invoicing.storage import Staged, Store, read, store_for

log = logging.getLogger(__name__)

# Invoices a header task renders in one transaction (and pre-links in one fragment file):
# what a whole task rendered before tasks were sized by the run (dispatch.batch_size). A
# retry redoes at most one chunk, ~0.25 s of one process's CPU at 2.4 ms an invoice.
RENDER_CHUNK = 100


@dataclass(frozen=True)
class Outcome:
    invoice_id: int
    status: str  # rendered | failed | missing
    error: str | None = None


def _rendered_file(invoice: Issued) -> bytes | None:
    """The invoice's file if an earlier attempt rendered it and it is intact."""
    row = invoice.row
    if row.status != InvoiceStatus.RENDERED or not row.pdf_path or not row.sha256:
        return None
    try:
        return read(row.pdf_path, row.sha256)
    except OSError:  # gone, damaged (sha256 differs) or unreadable: rendered again
        return None


def prelink(
    pdfs: dict[str, bytes], settings: Settings, period: str, made: dict[str, Fragment], store: Store
) -> None:
    """Pre-link a batch's invoices (by sha256) for the run's merge, here in parallel rather
    than in the body; `made`: the fragments the renderer made of some of them (by sha256),
    the others are parsed.

    Only an optimisation: the merge uses an entry only for a file whose recorded sha256
    it matches, and parses the file itself otherwise. So a failure here is logged, not
    raised. The name comes from the contents, so a redelivered batch rewrites the same file.
    """
    name = hashlib.sha256("".join(pdfs).encode()).hexdigest()[:32]
    path = f"{fragments_dir(settings, period)}/{name}.frag"
    try:
        if store.exists(path):
            return
        write_fragments(
            list(pdfs.values()),
            path,
            list(pdfs),
            [made.get(sha) for sha in pdfs],
            opener=lambda: store.writer(path),
        )
    except (MergeError, OSError) as exc:
        reason = str(exc)
        if isinstance(exc, OSError):
            reason = f"cannot write {exc.filename or path}: {exc.strerror or exc}"
        log.warning(
            "could not pre-link %s; the merge parses their files: %s", plural(len(pdfs), "invoice"), reason
        )


_PAGE_OBJECT = re.compile(rb"/Type\s*/Page(?![A-Za-z])")
_OBJECT_HEADER = re.compile(rb"(\d+)\s+\d+\s+obj\s*$")


def _page_count(pdf: bytes) -> int:
    # reportlab writes every page as a plain "/Type /Page" object (no object streams),
    # so counting them avoids parsing the file again; a hybrid's incremental update
    # (pdf.einvoice.pdfa) writes some pages again under their numbers, so it is the
    # distinct object numbers that count. Tests check it against pypdf.
    numbers = set()
    for match in _PAGE_OBJECT.finditer(pdf):
        start = pdf.rfind(b"obj", 0, match.start())
        header = _OBJECT_HEADER.search(pdf, max(0, start - 24), start + 3)
        numbers.add(header.group(1) if header else match.start())
    return len(numbers)


def describe_failure(exc: BaseException) -> str:
    if isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return f"cannot write the PDF: disk full ({exc.filename or 'output folder'})"
    if isinstance(exc, OSError) and exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        return f"cannot write the PDF: output folder not writable ({exc.filename or ''})".rstrip(" ()")
    if isinstance(exc, OSError):  # the path too: "File exists" alone says nothing of where
        where = f" {exc.filename}" if exc.filename else ""
        return f"cannot write the PDF{where}: {exc.strerror or exc}"
    if isinstance(exc, EInvoiceError):  # names its standard and rules itself: "EN 16931 (...): ..."
        return " ".join(str(exc).split()) or type(exc).__name__
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def render_file(doc: InvoiceDocument, settings: Settings) -> tuple[bytes, Fragment | None]:
    """The invoice's file: a plain PDF, or for an e-invoicing subscriber the hybrid PDF/A-3
    with its XML (built and pre-flighted in process). With INVOICING_EINVOICE_VALIDATE the
    e-invoice is also run through the EN 16931 XSD and Schematron, and a violation is an
    EInvoiceError naming the rules: that invoice fails, the batch goes on.

    With it, the merge fragment the renderer made of a plain PDF; None for a hybrid, whose
    bytes the PDF/A-3 update changed after rendering: pre-linking parses that one."""
    if doc.einvoice is None:
        return render_prelinked(doc)
    pdf = render_einvoice(doc)
    if settings.einvoice_validate:
        from invoicing.pdf.einvoice.validate import require_valid  # loads Saxon: only when asked

        require_valid(pdf)
    return pdf, None


def render_invoices(invoice_ids: list[int], settings: Settings | None = None) -> list[Outcome]:
    """Render a batch of invoices to their files, record each outcome, pre-link them for the merge.

    Transient errors propagate (the caller retries the batch; what was rendered is
    skipped or rewritten identically). Permanent errors are recorded per invoice and
    the rest of the batch goes on.
    """
    settings = settings or get_settings()
    store = store_for(settings)
    staged = store.staged()
    try:
        with session_scope() as session:
            outcomes, rendered, made = _render_batch(session, invoice_ids, settings, store, staged)
    finally:
        staged.discard()
    # After the commit: pre-linking needs no transaction, and a worker lost here only
    # costs the merge a parse.
    for period, pdfs in rendered.items():
        prelink(pdfs, settings, period, made, store)
    return outcomes


def render_chunked(
    invoice_ids: list[int], settings: Settings | None = None, chunk: int = RENDER_CHUNK
) -> list[Outcome]:
    """Render a header task's invoices RENDER_CHUNK at a time, each chunk committed and
    pre-linked before the next is read.

    Dispatch sizes a task by the run and the workers (`dispatch.batch_size`), up to
    thousands of invoices, so that the caller sends few messages; the work stays in
    chunks of what one task was before: a worker holds one chunk's PDFs and fragments
    (~5 MB), and a transient error retries the task with its committed chunks done (a
    range leaves rendered invoices out, `invoices_in`; a list finds their files)."""
    outcomes: list[Outcome] = []
    for start in range(0, len(invoice_ids), chunk):
        outcomes += render_invoices(invoice_ids[start : start + chunk], settings)
    return outcomes


def _render_batch(
    session: Session, invoice_ids: list[int], settings: Settings, store: Store, staged: Staged
) -> tuple[list[Outcome], dict[str, dict[str, bytes]], dict[str, Fragment]]:
    """Render into `staged`, put the files in place, set the rows (the caller commits).

    Returns the outcomes, by period the batch's rendered PDFs by sha256, and by sha256
    the fragments the renderer made of them.

    The invoices are read as plain rows (`issued_batch`) and their new state is written
    in one ORM bulk UPDATE by primary key, after the files are in place: the ORM's
    objects and unit of work cost more per invoice than the rows' data.
    """
    seller = seller_from(settings)
    invoices = issued_batch(session, invoice_ids)
    now = datetime.now(UTC)
    outcomes: dict[int, Outcome] = {}
    changes: dict[int, dict[str, Any]] = {}  # by id: the row's new values
    pdfs: dict[int, tuple[str, str, bytes]] = {}  # by id: period, sha256, file
    made: dict[str, Fragment] = {}  # by sha256: the renderer's fragments of the files it wrote
    for invoice_id in invoice_ids:
        invoice = invoices.get(invoice_id)
        if invoice is None:
            outcomes[invoice_id] = Outcome(invoice_id, "missing", "no such invoice")
            continue
        row = invoice.row
        earlier = _rendered_file(invoice)
        if earlier is not None:
            pdfs[invoice_id] = (row.period, row.sha256, earlier)
            outcomes[invoice_id] = Outcome(invoice_id, "rendered")
            continue
        try:
            pdf, fragment = render_file(invoice.document(seller), settings)
            path = invoice_path(settings, row.period, row.number, store)
            staged.write(invoice_id, path, pdf)
        except Exception as exc:
            if is_transient(exc):
                raise
            outcomes[invoice_id] = _failed(row.number, invoice_id, exc, now, changes)
            continue
        sha256 = hashlib.sha256(pdf).hexdigest()
        changes[invoice_id] = {
            "id": invoice_id,
            "status": InvoiceStatus.RENDERED,
            "pdf_path": path,
            "sha256": sha256,
            # The renderer's fragment knows its pages; a hybrid's are counted in the file.
            "pages": fragment.pages if fragment is not None else _page_count(pdf),
            "error": None,
            "rendered_at": now,
        }
        outcomes[invoice_id] = Outcome(invoice_id, "rendered")
        pdfs[invoice_id] = (row.period, sha256, pdf)
        if fragment is not None:
            made[sha256] = fragment
    # The files are in place and durable before the rows saying so commit (a transient
    # storage error raises here: the batch is retried, no row says rendered).
    for invoice_id, error in staged.commit().items():
        outcomes[invoice_id] = _failed(invoices[invoice_id].row.number, invoice_id, error, now, changes)
        del pdfs[invoice_id]
    if changes:
        session.execute(update(Invoice), list(changes.values()))
    tell_invoices_failed(
        session, [invoices[o.invoice_id].row for o in outcomes.values() if o.status == "failed"], outcomes
    )
    rendered: dict[str, dict[str, bytes]] = {}
    for period, sha256, pdf in pdfs.values():
        rendered.setdefault(period, {})[sha256] = pdf
    return list(outcomes.values()), rendered, made


def _failed(
    number: str, invoice_id: int, exc: BaseException, now: datetime, changes: dict[int, dict[str, Any]]
) -> Outcome:
    reason = describe_failure(exc)
    log.warning("invoice %s failed: %s", number, reason)
    changes[invoice_id] = {
        "id": invoice_id,
        "status": InvoiceStatus.FAILED,
        "error": reason,
        "rendered_at": now,
    }
    return Outcome(invoice_id, "failed", reason)


def tell_invoices_failed(session: Session, rows: Sequence[Any], reasons: dict[int, Outcome]) -> None:
    """An `invoice.failed` webhook event for each of these rows (invoice columns and the
    subscriber's account), in the transaction that records the failure."""
    for row in rows:
        emit(
            session,
            "invoice.failed",
            {
                "number": row.number,
                "kind": str(row.kind.value if hasattr(row.kind, "value") else row.kind),
                "account": row.account,
                "period": row.period,
                "run_id": row.run_id,
                "error": reasons[row.id].error,
            },
        )


def invoices_in(batch: InvoiceRange) -> list[int]:
    """The ids a range names: its run's invoices in it not rendered yet, in number order.

    Rendered ones are left out, so a range a resumed run sends may span invoices that
    were rendered before, and a redelivered one renders only what the first delivery
    did not commit."""
    with session_scope() as session:
        return list(
            session.scalars(
                select(Invoice.id)
                .where(
                    Invoice.run_id == batch.run_id,
                    Invoice.id.between(batch.first_id, batch.last_id),
                    Invoice.status != InvoiceStatus.RENDERED,
                )
                .order_by(Invoice.seq)
            )
        )


def record_batch_failure(batch: list[int] | InvoiceRange, reason: str) -> list[int]:
    """After retries ran out: the batch's unfinished invoices fail, so the body still
    runs; each tells its `invoice.failed` event. Returns their ids."""
    if isinstance(batch, InvoiceRange):
        which = and_(Invoice.run_id == batch.run_id, Invoice.id.between(batch.first_id, batch.last_id))
    else:
        which = Invoice.id.in_(batch)
    with session_scope() as session:
        pending = and_(which, Invoice.status == InvoiceStatus.PENDING)
        failing = session.execute(
            select(
                Invoice.id, Invoice.number, Invoice.kind, Invoice.period, Invoice.run_id, Subscriber.account
            )
            .join(Subscriber, Subscriber.id == Invoice.subscriber_id)
            .where(pending)
        ).all()
        session.execute(
            update(Invoice)
            .where(pending)
            .values(status=InvoiceStatus.FAILED, error=reason, rendered_at=datetime.now(UTC))
        )
        tell_invoices_failed(session, failing, {row.id: Outcome(row.id, "failed", reason) for row in failing})
    return [row.id for row in failing]


class PendingInvoices(Exception):
    def __init__(self, count: int) -> None:
        super().__init__(f"{plural(count, 'invoice')} not rendered yet")
        self.count = count


PART_CHUNK = 2000  # rows of the run's invoices the body reads at a time


def rendered_parts(run_id: int, chunk: int = PART_CHUNK) -> Iterator[Part]:
    """The run's rendered invoices in number order, read in keyset-paged chunks, each in a
    short transaction of its own: the body never holds them all (100,000 Parts were
    ~70 MB), nor a transaction open for the whole merge."""
    last = 0
    while True:
        with session_scope() as session:
            rows = session.execute(parts_after(run_id, last, chunk)).all()
        if not rows:
            return
        for row in rows:
            if (part := printed_part(row)) is not None:
                yield part
        last = rows[-1].seq


def parts_after(run_id: int, last: int, chunk: int) -> Select[*tuple[Any, ...]]:
    """The run's next `chunk` invoices after number `last`, whatever their status: by run
    and number alone, through ix_invoices_run_seq; the callers keep the rendered printed
    ones (the merge ahead waits at a pending one). With the status in the query,
    PostgreSQL planned on the statistics the run's issue left (every invoice pending, so
    "rendered" looked rare): it read the whole run through ix_invoices_run_status and
    sorted it for every chunk, 0.73 s a chunk of 2,000 at a million invoices (500
    chunks), against 11 ms through the run's numbers."""
    return (
        select(
            Invoice.seq,
            Invoice.status,
            Invoice.bill_channel,
            Invoice.number,
            Invoice.pdf_path,
            Invoice.sha256,
            Invoice.bill_name,
            Subscriber.account,
        )
        .join(Subscriber, Subscriber.id == Invoice.subscriber_id)
        .where(Invoice.run_id == run_id, Invoice.seq > last)
        .order_by(Invoice.seq)
        .limit(chunk)
    )


def printed_part(row: Row[Any]) -> Part | None:
    """A row of `parts_after` as the merge takes it, if it goes into the print file
    (rendered, channel print or both: what `printed_count` counts)."""
    if row.status != InvoiceStatus.RENDERED or row.bill_channel not in PRINTED:
        return None
    return part_of(row.number, row.pdf_path, row.sha256, row.bill_name, row.account)


def part_of(number: str, path: str | None, sha256: str | None, name: str, account: str) -> Part:
    """A rendered invoice as the merge takes it (its bookmark: number and name)."""
    if path is None:  # rendered means a file was recorded; never merge around one
        raise MergeError(f"invoice {number} is rendered but has no file recorded")
    return Part(path, f"{number} — {name}", number, sha256, account)


def printed_count(session: Session, run_id: int) -> int:
    """The run's rendered invoices that go into its print file (channel print or both)."""
    return (
        session.scalar(
            select(func.count())
            .select_from(Invoice)
            .where(
                Invoice.run_id == run_id,
                Invoice.status == InvoiceStatus.RENDERED,
                Invoice.bill_channel.in_(PRINTED),
            )
        )
        or 0
    )


def merge_run_invoices(run_id: int, settings: Settings | None = None) -> RunSummary:
    """Merge every rendered invoice of the run, in number order, and record the result;
    or, if the merge ahead (`ahead`) did that for this dispatch of the run, its result.

    It holds the run's merge lease (`lease`, on the run's row) while it merges, and waits
    for it while a live holder has it (a merge ahead finishing the run); a dead holder's
    lapses within `lease.TTL_S`, and a new dispatch clears an earlier one's."""
    settings = settings or get_settings()
    _nothing_pending(run_id)  # before waiting: batches still rendering mean a retry later
    with lease.merging(run_id) as held:
        with session_scope() as session:
            run = session.get(BillingRun, run_id)
            if run is not None and recorded_since_dispatch(run):
                return summary_of(run)
        return _merge_here(run_id, settings, held)


def recorded_since_dispatch(run: BillingRun) -> bool:
    """Whether the run's result was recorded after its latest dispatch (by the merge ahead,
    or by an earlier delivery of this body): then there is nothing left to merge."""
    return (
        run.status in FINAL
        and run.finished_at is not None
        and run.dispatched_at is not None
        and aware(run.finished_at) >= aware(run.dispatched_at)
    )


def _nothing_pending(run_id: int) -> None:
    with session_scope() as session:
        pending = count_by_status(session, run_id)[InvoiceStatus.PENDING]
    if pending:
        raise PendingInvoices(pending)


def _merge_here(run_id: int, settings: Settings, held: lease.Lease) -> RunSummary:
    layout = layout_of(settings)
    with session_scope() as session:
        run = session.get(BillingRun, run_id)
        if run is None:
            raise LookupError(f"no billing run {run_id}")
        counts = count_by_status(session, run_id)
        pending = counts[InvoiceStatus.PENDING]
        if pending:
            # The chord counted a redelivered task twice, or a resumed run's tasks are
            # still going: merging now would leave invoices out of the file.
            raise PendingInvoices(pending)
        run.status = RunStatus.MERGING
        period, kind = run.period, run.kind
        # Refused before anything is written (the merge would stop at that invoice).
        too_small = volume_too_small(session, run_id, settings, InvoiceStatus.RENDERED)
        printed = printed_count(session, run_id)
    store = store_for(settings)
    output = merged_path(settings, period, run_id, kind)
    prelinked = fragments_dir(settings, period)
    merged = None
    error = too_small
    if printed and error is None:
        manifest = None
        try:
            manifest = Manifest(store, run_id, period, str(kind.value), output, layout)
            merged = merge_pdfs(
                held.renewing(rendered_parts(run_id)),
                output,
                store.list(prelinked, ".frag"),
                layout,
                manifest.placed,
                read_part=lambda part: read(str(part.path), part.sha256),
                open_output=lambda location: store.writer(str(location)),
                open_fragment=store.open,
            )
            manifest.commit(merged)
        except BaseException as exc:
            if manifest is not None:  # no job ticket for files that are not there
                manifest.abort(exc)
            merged = None
            cause = exc.__cause__ if isinstance(exc, MergeError) else exc
            if cause is not None and is_transient(cause):
                raise  # the storage (or the database) is away: the body retries
            if isinstance(exc, MergeError):
                error = str(exc)
            elif isinstance(exc, OSError):  # the output folder is full, gone or not writable
                where = f" ({exc.filename})" if exc.filename and str(exc.filename) != str(output) else ""
                error = f"cannot write {output}: {exc.strerror or exc}{where}"
            else:
                raise  # a transient database error: the task retries the merge
        if merged is not None:
            remove_stale_volumes(store, output, merged)
    with session_scope() as session:
        run = session.get(BillingRun, run_id)
        assert run is not None
        summary = _record(session, run, counts[InvoiceStatus.FAILED], merged, error)
    if summary.status == RunStatus.COMPLETED.value:
        # Nothing is left to retry: the fragments have served their purpose.
        store.remove_tree(prelinked)
    return summary


def _record(
    session: Session, run: BillingRun, failed: int, merged: Merged | None, error: str | None
) -> RunSummary:
    """The run's result on its row, its volumes, its webhook event; returns its summary."""
    run.failed_count = failed
    run.finished_at = datetime.now(UTC)
    if merged is not None:
        run.output_path = str(merged.path)
        run.sha256 = merged.sha256
        run.pages = merged.pages
    if error is not None:
        run.status = RunStatus.FAILED
        run.error = f"merge failed: {error}"
        run.output_path = run.sha256 = None
        run.pages = None
    elif merged is None:
        run.status = RunStatus.FAILED if failed else RunStatus.COMPLETED
        run.error = "every invoice failed" if failed else None
    else:
        run.status = RunStatus.COMPLETED_WITH_ERRORS if failed else RunStatus.COMPLETED
        run.error = None
    record_volumes(session, run, merged)
    summary = summary_of(run)
    tell_run_finished(session, run)
    return summary


def merge_ahead(
    run_id: int,
    settings: Settings,
    parts: Iterator[Part],
    fragments: Any,
    dispatched_at: datetime,
    held: lease.Lease,
) -> RunSummary | None:
    """The merge that runs while the run's batches render (`ahead`): `parts` yields the
    run's rendered print invoices in number order as they are committed, `fragments` finds
    their pre-linked fragments as they are written. The files are what `merge_run_invoices`
    writes (same parts, same order, same code).

    The result is recorded only if it is still the whole truth: the run is open and still
    the dispatch it started on, no invoice is pending, every printed invoice is in the file
    and the lease is still ours (`held`), all checked on the locked row in the transaction
    that records. Otherwise None: the body merges the run itself."""
    layout = layout_of(settings)
    with session_scope() as session:
        run = session.get(BillingRun, run_id)
        assert run is not None
        period, kind = run.period, run.kind
    store = store_for(settings)
    output = merged_path(settings, period, run_id, kind)
    earlier = earlier_volumes(store, output)  # listed now, while the batches render
    manifest = Manifest(store, run_id, period, str(kind.value), output, layout)
    try:
        merged = merge_pdfs(
            parts,
            output,
            (),
            layout,
            manifest.placed,
            read_part=lambda part: read(str(part.path), part.sha256),
            open_output=lambda location: _while_held(store, str(location), held),
            fragment_store=fragments,
        )
        if not held.renew(now=True):
            raise lease.Lost(f"billing run {run_id}: its merge lease was taken over")
        manifest.commit(merged)
    except BaseException as exc:
        manifest.abort(exc)
        raise
    with session_scope() as session:
        run = session.get(BillingRun, run_id, with_for_update=True)
        assert run is not None
        counts = count_by_status(session, run_id)
        merged_count = sum(volume.invoices for volume in merged.volumes)
        if (
            run.status in FINAL
            or run.dispatched_at is None
            or aware(run.dispatched_at) != dispatched_at
            or counts[InvoiceStatus.PENDING]
            or printed_count(session, run_id) != merged_count
            or not held.holds(run)
        ):
            return None
        remove_stale_volumes(store, output, merged, earlier)
        summary = _record(session, run, counts[InvoiceStatus.FAILED], merged, None)
    held.release()  # the body waits for it: before the clean-up
    if summary.status == RunStatus.COMPLETED.value:
        store.remove_tree(fragments_dir(settings, period))
    return summary


@contextmanager
def _while_held(store: Store, location: str, held: lease.Lease) -> Iterator[BinaryIO]:
    """A merged file the merge ahead writes, put in place only if its lease is still its
    own: a merge ahead that lost it (it stalled, the run was dispatched again) never
    replaces what the body wrote since."""
    with store.writer(location) as stream:
        yield stream
        if not held.renew(now=True):
            raise lease.Lost(f"billing run {held.run_id}: its merge lease was taken over")


def tell_run_finished(session: Session, run: BillingRun) -> None:
    """The `run.completed` webhook event (every invoice or some of them merged: its status
    says which) or `run.failed` (nothing merged), in the transaction that records it."""
    failed = run.status == RunStatus.FAILED
    data = summary_of(run).as_dict() | {"kind": run.kind.value, "error": run.error}
    emit(session, "run.failed" if failed else "run.completed", data)
