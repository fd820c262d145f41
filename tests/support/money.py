"""The money rule checked on what a run stored: every invoice recomputed from its
subscriber, plan and the charges it billed by `billing.money.compute_totals`."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from sqlalchemy import select

from invoicing.billing.money import compute_totals
from invoicing.billing.period import Period
from invoicing.db import session_scope
from invoicing.models import Charge, Invoice, InvoiceLineRow, Plan, Subscriber


def _line(line: Any) -> tuple[str, Decimal, Decimal, Decimal]:
    return (line.description, line.quantity, line.unit_price, line.amount)


def off_the_money_rule(run_id: int) -> list[str]:
    """One line per invoice of the run whose stored lines or totals differ from the
    rule's, or whose totals do not add up; empty when every one holds."""
    problems = []
    with session_scope() as session:
        plans = {plan.id: plan for plan in session.scalars(select(Plan))}
        invoices = session.scalars(select(Invoice).where(Invoice.run_id == run_id).order_by(Invoice.seq))
        for invoice in invoices:
            subscriber = session.get(Subscriber, invoice.subscriber_id)
            assert subscriber is not None
            charges = session.scalars(
                select(Charge)
                .where(Charge.invoice_id == invoice.id)
                .order_by(Charge.period != invoice.period, Charge.period, Charge.id)
            ).all()
            plan, period = plans[subscriber.plan_id], Period.parse(invoice.period)
            rule = compute_totals(plan, charges, subscriber, period)
            stored = session.scalars(
                select(InvoiceLineRow)
                .where(InvoiceLineRow.invoice_id == invoice.id)
                .order_by(InvoiceLineRow.position)
            ).all()
            lines, expected = [_line(line) for line in stored], [_line(line) for line in rule.lines]
            if lines != expected:
                problems.append(f"{invoice.number}: lines {lines} != {expected}")
            totals = (invoice.subtotal, invoice.tax, invoice.total)
            wanted = (rule.subtotal, rule.tax, rule.total)
            if totals != wanted:
                problems.append(f"{invoice.number}: totals {totals} != {wanted}")
            if invoice.subtotal != sum((line.amount for line in stored), Decimal(0)) or (
                invoice.total != invoice.subtotal + invoice.tax
            ):
                problems.append(f"{invoice.number}: totals {totals} do not add up")
    return problems
