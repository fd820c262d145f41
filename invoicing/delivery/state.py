"""An invoice's e-mail state in the database: every change of state is one function here.

pending -> sending -> sent; sending -> deferred -> sending ... -> failed; sending ->
failed; sent -> bounced (a DSN came back). `sending` is committed before SMTP DATA and
`sent` after the server's 250, so an invoice is never sent twice, except one whose
worker died between the two: the same task, redelivered, sends it again with the same
Message-ID (`claim`).

`mark_sent` and `mark_bounced` are the places where an invoice became sent or bounced:
each records its webhook event (`invoice.sent`, `invoice.bounced`) in the same transaction.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import func, insert, or_, select, update
from sqlalchemy.orm import Session

from invoicing.billing.void import record_released
from invoicing.delivery import webhooks
from invoicing.models import (
    MAILED,
    BillingRun,
    Delivery,
    DeliveryState,
    DocumentKind,
    Invoice,
    InvoiceStatus,
    Subscriber,
)

REASON_MAX = 2000
LISTED = 100  # failed and bounced invoices `status` lists with their reasons
# Still to do: `deliver` sends these; the rest are final.
OPEN = (DeliveryState.PENDING, DeliveryState.SENDING, DeliveryState.DEFERRED)


def _now() -> datetime:
    return datetime.now(UTC)


def message_id(number: str, sender_domain: str) -> str:
    """The Message-ID of an invoice's e-mail: the same every time it is sent, so a
    message sent again is recognisably the same one (and a DSN finds its invoice)."""
    return f"<{number}@{sender_domain}>"


def prepare(session: Session, run_id: int, sender_domain: str, stale_after_s: float) -> list[int]:
    """Add a pending delivery for each of the run's rendered e-mail invoices that has
    none; return the invoice ids to send now, in number order: pending, deferred, and
    those left `sending` longer than `stale_after_s` ago (their worker is gone)."""
    missing = session.execute(
        select(Invoice.id, Invoice.number, Invoice.bill_email)
        .outerjoin(Delivery, Delivery.invoice_id == Invoice.id)
        .where(
            Invoice.run_id == run_id,
            Invoice.kind == DocumentKind.INVOICE,
            Invoice.status == InvoiceStatus.RENDERED,
            Invoice.voided_at.is_(None),
            Invoice.bill_channel.in_(MAILED),
            Delivery.id.is_(None),
        )
    ).all()
    now = _now()
    if missing:
        session.execute(
            insert(Delivery),
            [
                {
                    "invoice_id": invoice_id,
                    "run_id": run_id,
                    "state": DeliveryState.PENDING,
                    "recipient": email or "",
                    "message_id": message_id(number, sender_domain),
                    "attempts": 0,
                    "updated_at": now,
                }
                for invoice_id, number, email in missing
            ],
        )
    stale = now - timedelta(seconds=stale_after_s)
    return list(
        session.scalars(
            select(Delivery.invoice_id)
            .join(Invoice, Invoice.id == Delivery.invoice_id)
            .where(
                Delivery.run_id == run_id,
                or_(
                    Delivery.state.in_((DeliveryState.PENDING, DeliveryState.DEFERRED)),
                    (Delivery.state == DeliveryState.SENDING) & (Delivery.updated_at < stale),
                ),
            )
            .order_by(Invoice.seq)
        )
    )


@dataclass(frozen=True)
class Claimed:
    """What one e-mail is made of, read when its delivery was claimed."""

    invoice_id: int
    number: str
    recipient: str
    message_id: str
    attempts: int
    name: str
    locale: str
    currency: str
    total: Any
    period: str
    due_date: Any
    pdf_path: str | None
    sha256: str | None


def claim(session: Session, invoice_ids: Sequence[int], task_id: str) -> list[Claimed]:
    """Mark these deliveries `sending` for task `task_id` (the caller commits, before
    any DATA). Taken: pending and deferred ones, and those this same task had set
    sending (it was redelivered after its worker died). Never those of a void invoice:
    the runs' rows are locked first, as `void_run` locks its run, so a void and a claim
    are one after the other and a void never misses an e-mail under way."""
    now = _now()
    runs = select(Invoice.run_id).where(Invoice.id.in_(list(invoice_ids)))
    session.execute(select(BillingRun.id).where(BillingRun.id.in_(runs)).with_for_update()).all()
    voided = select(Invoice.id).where(Invoice.id.in_(list(invoice_ids)), Invoice.voided_at.is_not(None))
    session.execute(
        update(Delivery)
        .where(
            Delivery.invoice_id.in_(list(invoice_ids)),
            Delivery.invoice_id.not_in(voided),
            or_(
                Delivery.state.in_((DeliveryState.PENDING, DeliveryState.DEFERRED)),
                (Delivery.state == DeliveryState.SENDING) & (Delivery.claimed_by == task_id),
            ),
        )
        .values(
            state=DeliveryState.SENDING,
            claimed_by=task_id,
            attempts=Delivery.attempts + 1,
            updated_at=now,
            next_attempt_at=None,
        )
        .execution_options(synchronize_session=False)
    )
    rows = session.execute(
        select(
            Delivery.invoice_id,
            Invoice.number,
            Delivery.recipient,
            Delivery.message_id,
            Delivery.attempts,
            Invoice.bill_name.label("name"),
            Invoice.bill_locale.label("locale"),
            Invoice.currency,
            Invoice.total,
            Invoice.period,
            Invoice.due_date,
            Invoice.pdf_path,
            Invoice.sha256,
        )
        .join(Invoice, Invoice.id == Delivery.invoice_id)
        .where(
            Delivery.invoice_id.in_(list(invoice_ids)),
            Delivery.state == DeliveryState.SENDING,
            Delivery.claimed_by == task_id,
        )
        .order_by(Invoice.seq)
    ).all()
    return [Claimed(**row._asdict()) for row in rows]


def mark_sent(session: Session, invoice_id: int, reply: str) -> None:
    """The server accepted the message (250): the invoice has left the system."""
    now = _now()
    _set(session, invoice_id, DeliveryState.SENT, reply=reply[:REASON_MAX], sent_at=now, updated_at=now)
    record_released(session, [invoice_id], "email")
    _tell(session, "invoice.sent", invoice_id, {"reply": reply[:REASON_MAX]})


def mark_deferred(session: Session, invoice_id: int, reply: str, retry_at: datetime) -> None:
    _set(session, invoice_id, DeliveryState.DEFERRED, reply=reply[:REASON_MAX], next_attempt_at=retry_at)


def mark_failed(session: Session, invoice_id: int, reply: str) -> None:
    _set(session, invoice_id, DeliveryState.FAILED, reply=reply[:REASON_MAX])


def mark_bounced(session: Session, invoice_id: int, status: str, diagnostic: str) -> None:
    """A delivery status notification says the message did not reach the subscriber."""
    bounce = {"status": status[:32], "diagnostic": diagnostic[:REASON_MAX]}
    _set(
        session,
        invoice_id,
        DeliveryState.BOUNCED,
        bounce_status=bounce["status"],
        bounce_diagnostic=bounce["diagnostic"],
    )
    _tell(session, "invoice.bounced", invoice_id, bounce)


def _set(session: Session, invoice_id: int, state: DeliveryState, **values: Any) -> None:
    """Move an invoice's delivery to `state` with these columns, stamped `updated_at` now
    unless `values` gives it."""
    values.setdefault("updated_at", _now())
    session.execute(update(Delivery).where(Delivery.invoice_id == invoice_id).values(state=state, **values))


def _tell(session: Session, type: str, invoice_id: int, extra: dict[str, Any]) -> None:
    """The webhook event of an invoice's delivery: which invoice, to whom, with what id.
    Nothing is read when webhooks are off (a SELECT per invoice sent otherwise)."""
    if not webhooks.enabled():
        return
    row = session.execute(
        select(Invoice.number, Invoice.run_id, Subscriber.account, Delivery.recipient, Delivery.message_id)
        .join(Delivery, Delivery.invoice_id == Invoice.id)
        .join(Subscriber, Subscriber.id == Invoice.subscriber_id)
        .where(Invoice.id == invoice_id)
    ).one()
    webhooks.emit(session, type, {**row._asdict(), **extra})


def counts(session: Session, run_id: int) -> dict[str, int]:
    """The run's e-mail invoices by delivery state; those not handed to `deliver` yet
    count as pending. Empty for a run without e-mail invoices."""
    found = {state.value: 0 for state in DeliveryState}
    for state, count in session.execute(
        select(Delivery.state, func.count()).where(Delivery.run_id == run_id).group_by(Delivery.state)
    ):
        found[DeliveryState(state).value] = count
    waiting = session.scalar(
        select(func.count())
        .select_from(Invoice)
        .outerjoin(Delivery, Delivery.invoice_id == Invoice.id)
        .where(
            Invoice.run_id == run_id,
            Invoice.kind == DocumentKind.INVOICE,
            Invoice.voided_at.is_(None),
            Invoice.bill_channel.in_(MAILED),
            Delivery.id.is_(None),
        )
    )
    found[DeliveryState.PENDING.value] += waiting or 0
    return found if any(found.values()) else {}


def problems(session: Session, run_id: int, limit: int = LISTED) -> list[dict[str, str | None]]:
    """The run's failed and bounced e-mails with their reasons, in number order."""
    rows = session.execute(
        select(
            Invoice.number,
            Subscriber.account,
            Delivery.recipient,
            Delivery.state,
            Delivery.reply,
            Delivery.bounce_status,
            Delivery.bounce_diagnostic,
        )
        .join(Invoice, Invoice.id == Delivery.invoice_id)
        .join(Subscriber, Subscriber.id == Invoice.subscriber_id)
        .where(Delivery.run_id == run_id, Delivery.state.in_((DeliveryState.FAILED, DeliveryState.BOUNCED)))
        .order_by(Invoice.seq)
        .limit(limit)
    ).all()
    return [
        {
            "number": number,
            "account": account,
            "recipient": recipient,
            "state": DeliveryState(state).value,
            "reason": (
                f"{status} {diagnostic or ''}".strip() if state == DeliveryState.BOUNCED else (reply or "")
            ),
        }
        for number, account, recipient, state, reply, status, diagnostic in rows
    ]


def open_count(session: Session, run_id: int) -> int:
    """The run's deliveries still to finish (pending, sending, deferred)."""
    return (
        session.scalar(
            select(func.count())
            .select_from(Delivery)
            .where(Delivery.run_id == run_id, Delivery.state.in_(OPEN))
        )
        or 0
    )
