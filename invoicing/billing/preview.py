"""`invoicing run --dry-run`: what a run would issue now, computed as the run computes it,
written nowhere (no rows, no files); and `invoicing charges`: the late charges behind the
counts that `status` and the dry run show, one by one."""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from invoicing.billing.counts import last_invoiced
from invoicing.billing.issue import active_in, plan_invoices
from invoicing.billing.period import Period
from invoicing.config import Settings
from invoicing.models import Charge, DocumentKind, Invoice, Subscriber

EXAMPLES = 20  # skipped subscribers listed by name; the rest are counted
CANNOT_BILL = "cannot be billed as their data stands (fix it; a later run bills them)"


@dataclass
class Preview:
    period: str
    kind: str  # billing | supplement | none (a run is in progress: `run` would follow it)
    invoices: int = 0
    first_number: str | None = None
    last_number: str | None = None
    # currency -> subtotal, tax, total (Decimal, added up exactly)
    totals: dict[str, dict[str, Decimal]] = field(default_factory=dict)
    deferred_charges: int = 0  # late charges of earlier periods these invoices would pick up
    skipped: dict[str, int] = field(default_factory=dict)  # reason -> subscribers
    examples: list[dict[str, str]] = field(default_factory=list)
    note: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "period": self.period,
            "kind": self.kind,
            "invoices": self.invoices,
            "first_number": self.first_number,
            "last_number": self.last_number,
            "totals": {
                currency: {key: str(value) for key, value in sums.items()}
                for currency, sums in sorted(self.totals.items())
            },
            "deferred_charges": self.deferred_charges,
            "skipped": self.skipped,
            "skipped_examples": self.examples,
            "note": self.note,
        }


def preview_run(session: Session, settings: Settings, period: Period, kind: str) -> Preview:
    """What `create_run` would issue for `period` now; reads only."""
    preview = Preview(str(period), kind)
    sums: dict[str, dict[str, Decimal]] = defaultdict(
        lambda: {"subtotal": Decimal(0), "tax": Decimal(0), "total": Decimal(0)}
    )
    cannot: list[dict[str, str]] = []
    for issuable in plan_invoices(session, settings, period):
        cannot.extend({"account": s.account, "reason": s.reason} for s in issuable.skipped)
        for planned in issuable.planned:
            preview.invoices += 1
            preview.first_number = preview.first_number or planned.number
            preview.last_number = planned.number
            preview.deferred_charges += planned.late_charges
            money = sums[planned.currency]
            money["subtotal"] += planned.totals.subtotal
            money["tax"] += planned.totals.tax
            money["total"] += planned.totals.total
    preview.totals = dict(sums)
    # Those the run would skip for their data come first: a person has to fix them.
    preview.examples.extend(cannot[:EXAMPLES])
    _skipped(session, period, preview)
    if cannot:
        preview.skipped = {CANNOT_BILL: len(cannot), **preview.skipped}
    return preview


def _skipped(session: Session, period: Period, preview: Preview) -> None:
    """Subscribers the run leaves out, and why."""
    reasons: Counter[str] = Counter()
    rows = session.execute(
        select(Subscriber.account, Subscriber.active_from, Subscriber.active_to).where(~active_in(period))
    )
    for account, active_from, active_to in rows:
        if active_from > period.end:
            reason = f"starts later ({active_from})"
            key = "starts after the period"
        else:
            reason = f"ended before the period ({active_to})"
            key = "ended before the period"
        reasons[key] += 1
        if len(preview.examples) < EXAMPLES:
            preview.examples.append({"account": account, "reason": reason})
    invoiced = session.execute(
        select(Subscriber.account, Invoice.number)
        .join(Invoice, Invoice.subscriber_id == Subscriber.id)
        .where(
            Invoice.period == str(period),
            Invoice.kind == DocumentKind.INVOICE,
            Invoice.voided_at.is_(None),
        )
        .order_by(Invoice.seq)
    )
    for account, number in invoiced:
        reasons["already invoiced for the period"] += 1
        if len(preview.examples) < EXAMPLES:
            preview.examples.append({"account": account, "reason": f"already invoiced ({number})"})
    preview.skipped = dict(reasons)


@dataclass(frozen=True)
class LateCharge:
    """A charge that arrived after its period was billed for its subscriber, not billed
    yet: `waiting` for the subscriber's next invoice (`goes_on`: its period), or
    `unbillable`, the subscriber having ended before any later invoice."""

    account: str
    name: str
    period: str
    description: str
    quantity: Decimal
    unit_price: Decimal
    currency: str
    id: str | None  # the usage feed's event id, when the import gave one
    state: str  # waiting | unbillable
    goes_on: str | None

    def as_dict(self) -> dict[str, Any]:
        return {
            "account": self.account,
            "name": self.name,
            "period": self.period,
            "description": self.description,
            "quantity": str(self.quantity),
            "unit_price": str(self.unit_price),
            "currency": self.currency,
            "id": self.id,
            "state": self.state,
            "goes_on": self.goes_on,
        }


def late_charges(session: Session) -> list[LateCharge]:
    """Every late charge not billed yet, by account and period: the same selection as
    the counts (`counts.unbilled_charges`), row by row."""
    last = last_invoiced()
    rows = session.execute(
        select(
            Subscriber.account,
            Subscriber.name,
            Subscriber.currency,
            Subscriber.active_to,
            last.c.last,
            Charge.period,
            Charge.description,
            Charge.quantity,
            Charge.unit_price,
            Charge.source_key,
        )
        .select_from(Charge)
        .join(last, last.c.subscriber_id == Charge.subscriber_id)
        .join(Subscriber, Subscriber.id == Charge.subscriber_id)
        .where(Charge.invoice_id.is_(None), Charge.period <= last.c.last)
        .order_by(Subscriber.account, Charge.period, Charge.id)
    )
    found = []
    for account, name, currency, active_to, last_period, period, description, quantity, price, key in rows:
        following = Period.parse(last_period).next()
        ended = active_to is not None and active_to < following.start
        found.append(
            LateCharge(
                account=account,
                name=name,
                period=period,
                description=description,
                quantity=quantity,
                unit_price=price,
                currency=currency,
                id=key.removeprefix("id:") if key.startswith("id:") else None,
                state="unbillable" if ended else "waiting",
                goes_on=None if ended else str(following),
            )
        )
    return found
