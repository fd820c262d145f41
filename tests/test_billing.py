"""Billing rules: money rounding, who is billable, proration, numbering."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from sqlalchemy import select

from invoicing.billing import (
    BillingError,
    Period,
    active_in,
    compute_totals,
    create_run,
    document_for,
    invoice_number,
    issue_dates,
    round_money,
    seller_from,
)
from invoicing.config import Settings
from invoicing.db import init_db, session_scope
from invoicing.models import Charge, Invoice, InvoiceLineRow, Plan, Subscriber
from tests.support.envs import Env

D = Decimal


def subscriber(**kw) -> Subscriber:
    base = dict(
        account="A-1",
        name="N",
        email="n@example.org",
        address=["x"],
        country="DE",
        locale="de_DE",
        currency="EUR",
        tax_rate=D("19"),
        plan_id=1,
        active_from=date(2026, 1, 1),
        active_to=None,
    )
    base.update(kw)
    return Subscriber(**base)


def charge(quantity: str, unit_price: str, description: str = "usage") -> Charge:
    return Charge(
        subscriber_id=1,
        period="2026-10",
        description=description,
        quantity=D(quantity),
        unit_price=D(unit_price),
    )


PLAN = Plan(code="basic", name="Basic", monthly_fee=D("9.90"), currency="EUR")


OCT = Period(2026, 10)


def test_parse_period() -> None:
    october, february = Period.parse("2026-10"), Period.parse("2028-02")
    assert (october.start, october.end) == (date(2026, 10, 1), date(2026, 10, 31))
    assert (february.start, february.end) == (date(2028, 2, 1), date(2028, 2, 29))
    assert str(Period.parse(" 2026-10 ")) == "2026-10"
    for bad in ("2026-13", "2026-1", "26-10", "2026/10", "", "2026-00", None, 202610):
        with pytest.raises(BillingError, match="not a period"):
            Period.parse(bad)


def test_previous_and_next_period() -> None:
    assert str(Period.previous(date(2026, 11, 1))) == "2026-10"
    assert str(Period.previous(date(2027, 1, 15))) == "2026-12"
    assert str(Period(2026, 12).next()) == "2027-01" and str(OCT.next()) == "2026-11"
    assert Period(2026, 9) < OCT < Period(2027, 1)


def test_round_half_up_per_currency() -> None:
    assert round_money(D("0.125"), "EUR") == D("0.13")
    assert round_money(D("0.124"), "EUR") == D("0.12")
    assert round_money(D("1649.5"), "JPY") == D("1650")
    assert round_money(D("1.2345"), "KWD") == D("1.235")
    with pytest.raises(TypeError):
        round_money(0.1, "EUR")  # type: ignore[arg-type]


def test_lines_rounded_then_summed_then_taxed() -> None:
    # given three lines that each round up: 3 x 0.125 would be 0.375 -> 0.38 unrounded
    totals = compute_totals(PLAN, [charge("1", "0.125")] * 3, subscriber(), OCT)
    # then: each line 0.13, subtotal is the sum of printed lines, tax on the subtotal
    assert [line.amount for line in totals.lines] == [D("9.90"), D("0.13"), D("0.13"), D("0.13")]
    assert totals.subtotal == D("10.29")
    assert totals.tax == D("1.96")  # 10.29 * 19% = 1.9551
    assert totals.total == totals.subtotal + totals.tax == D("12.25")
    assert all(isinstance(v, Decimal) for v in (totals.subtotal, totals.tax, totals.total))


def test_zero_decimal_currency() -> None:
    plan = Plan(code="jp", name="Basic JP", monthly_fee=D("1500"), currency="JPY")
    totals = compute_totals(plan, [charge("3", "33.3")], subscriber(currency="JPY", tax_rate=D("10")), OCT)
    assert totals.lines[1].amount == D("100")
    assert totals.subtotal == D("1600") and totals.tax == D("160") and totals.total == D("1760")
    assert totals.total.as_tuple().exponent == 0


def test_partial_month_is_prorated_by_day() -> None:
    sub = subscriber(active_from=date(2026, 10, 15))
    totals = compute_totals(PLAN, [], sub, OCT)
    # 17 of 31 days of 9.90 = 5.429 -> 5.43
    assert totals.lines[0].amount == D("5.43")
    # in the subscriber's language (de_DE), dates as Babel writes a range
    assert totals.lines[0].description == f"{PLAN.name}, 15.–31. Okt. 2026 (17 von 31 Tagen)"


def test_no_usage_is_the_plan_fee_only() -> None:
    totals = compute_totals(PLAN, [], subscriber(), OCT)
    assert len(totals.lines) == 1 and totals.subtotal == D("9.90")


def test_invoice_numbers_and_dates() -> None:
    s = Settings(_env_file=None)
    assert invoice_number(s, OCT, 1) == "INV-2026-10-000001"
    assert invoice_number(s, OCT, 1234567) == "INV-2026-10-1234567"
    assert issue_dates(s, OCT) == (date(2026, 11, 1), date(2026, 11, 15))


def test_create_run_bills_the_active_subscribers_with_gapless_numbers(env: Env) -> None:
    init_db()
    with session_scope() as session:
        plan = Plan(code="basic", name="Basic", monthly_fee=D("9.90"), currency="EUR")
        session.add(plan)
        session.flush()
        for account, start, end in [
            ("C", date(2026, 1, 1), None),
            ("A", date(2026, 10, 31), None),  # starts on the last day: billable
            ("B", date(2026, 1, 1), date(2026, 9, 30)),  # ended before: not billable
            ("D", date(2026, 11, 1), None),  # starts after: not billable
            ("E", date(2026, 1, 1), date(2026, 10, 1)),  # ends on the first day: billable
        ]:
            session.add(subscriber(account=account, plan_id=plan.id, active_from=start, active_to=end))
    with session_scope() as session:
        billable = session.scalars(
            select(Subscriber.account).where(active_in(OCT)).order_by(Subscriber.account)
        )
        assert list(billable) == ["A", "C", "E"]
        run = create_run(session, Settings(_env_file=None), OCT)
        assert run.invoice_count == 3
    with session_scope() as session:
        invoices = session.scalars(select(Invoice).order_by(Invoice.seq)).all()
        assert [i.number for i in invoices] == [f"INV-2026-10-00000{n}" for n in (1, 2, 3)]
        assert [i.subscriber.account for i in invoices] == ["A", "C", "E"]
        lines = session.scalars(select(InvoiceLineRow)).all()
        assert len(lines) == 3 and all(isinstance(line.amount, Decimal) for line in lines)


def test_a_render_batch_reads_the_same_documents_as_the_orm(env: Env) -> None:
    """`issued_batch` (plain rows, what a header task reads) and `document_for` (the ORM
    invoice, what `render` and the bench read) make equal documents, down to the types
    of their values: synthetic subscribers of every script, and a credit note naming the
    invoice it credits."""
    from invoicing.billing.credit import issue_credit_note
    from invoicing.billing.documents import issued_batch
    from invoicing.billing.importer import import_data
    from invoicing.synthetic import synthetic_dataset

    # given a run of synthetic subscribers and a credit note on its first invoice
    init_db()
    settings = Settings(_env_file=None)
    with session_scope() as session:
        import_data(session, synthetic_dataset(120, str(OCT), seed=3))
    with session_scope() as session:
        create_run(session, settings, OCT)
    with session_scope() as session:
        first = session.scalars(select(Invoice).order_by(Invoice.id)).first()
        assert first is not None
        issue_credit_note(session, settings, first.number, D("1.00"), "goodwill")
    seller = seller_from(settings)
    with session_scope() as session:
        invoices = session.scalars(select(Invoice).order_by(Invoice.id)).all()
        ids = [invoice.id for invoice in invoices]
        # when
        batch = issued_batch(session, [*ids, max(ids) + 1])  # one that does not exist
        # then
        assert sorted(batch) == ids
        for invoice in invoices:
            assert repr(batch[invoice.id].document(seller)) == repr(document_for(invoice, seller))
        note = batch[ids[-1]].document(seller)
        assert note.document_type == "381" and note.preceding_invoice is not None
        assert note.preceding_invoice.number == first.number
