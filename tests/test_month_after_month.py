"""Billing across months, on the billing layer: late charges, late subscribers, credit
notes, and an import you can run again. (The same from the outside: test_month_cli.py.)"""

from __future__ import annotations

import copy
import re
import tempfile
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from invoicing.billing import Period, create_run, round_money
from invoicing.billing.credit import credited_so_far, issue_credit_note
from invoicing.billing.importer import ImportProblems, import_data, import_files
from invoicing.config import Settings
from invoicing.db import init_db, session_scope
from invoicing.errors import BillingError
from invoicing.models import (
    BillingRun,
    Charge,
    DocumentKind,
    Invoice,
    InvoiceLineRow,
    RunKind,
    Subscriber,
)
from tests.support.factories import VALID_IMPORT

D = Decimal
OCT, NOV, DEC = Period(2026, 10), Period(2026, 11), Period(2026, 12)
SETTINGS = Settings(_env_file=None)

PLAN = VALID_IMPORT["plans"][0]


def subscriber(account: str, **kw: object) -> dict:
    """The valid import's subscriber, under another account and with `kw` changed."""
    return {**copy.deepcopy(VALID_IMPORT["subscribers"][0]), "account": account, **kw}


def charge(account: str, period: str, description: str = "Roaming 2 GB", **kw: object) -> dict:
    row = {
        "account": account,
        "period": period,
        "description": description,
        "quantity": "2",
        "unit_price": "3.50",
    }
    row.update(kw)
    return row


def load(data: dict):
    with session_scope() as session:
        return import_data(session, copy.deepcopy(data))


def issue(period: Period, kind: RunKind = RunKind.BILLING) -> int:
    with session_scope() as session:
        return create_run(session, SETTINGS, period, kind).id


def invoice_of(account: str, period: Period) -> Invoice:
    with session_scope() as session:
        invoice = session.scalars(
            select(Invoice)
            .join(Subscriber)
            .where(
                Subscriber.account == account,
                Invoice.period == str(period),
                Invoice.kind == DocumentKind.INVOICE,
            )
        ).one()
        invoice.lines  # noqa: B018 - load them before the session closes
        return invoice


@pytest.fixture
def db(env):
    init_db()
    load(
        {"plans": [PLAN], "subscribers": [subscriber("A-1")], "charges": [charge("A-1", "2026-10", id="e1")]}
    )
    return env


def test_a_late_charge_goes_on_the_next_invoice_and_nowhere_else(db) -> None:
    # given October billed
    issue(OCT)
    october = invoice_of("A-1", OCT)
    # when a charge for October arrives after that
    summary = load({"charges": [charge("A-1", "2026-10", "Roaming 5 GB", id="e2", quantity="1")]})
    # then the import says it is deferred, and to which invoice
    assert summary.charges.created == 1 and summary.charges.deferred == 1
    assert summary.deferred == {"A-1": (1, "2026-11")}
    # when November is billed
    issue(NOV)
    november = invoice_of("A-1", NOV)
    # then the late charge is on November's invoice, naming its month in German, and October's is unchanged
    assert [line.description for line in november.lines] == [
        "Basic 100, monatliche Grundgebühr",
        "Roaming 5 GB (Okt. 2026)",
    ]
    assert november.subtotal == D("9.90") + D("3.50")
    assert [line.description for line in invoice_of("A-1", OCT).lines] == [
        line.description for line in october.lines
    ]
    with session_scope() as session:
        owners = dict(session.execute(select(Charge.source_key, Charge.invoice_id)).all())
    assert owners == {"id:e1": october.id, "id:e2": november.id}


def test_a_late_subscriber_gets_the_next_number_in_a_supplement(db) -> None:
    # given October billed for A-1
    issue(OCT)
    # when B-2, billable in October, is imported afterwards and a supplement issued
    load({"subscribers": [subscriber("B-2", active_from="2026-10-15")]})
    run_id = issue(OCT, RunKind.SUPPLEMENT)
    # then B-2 gets the next number of October's series, and nobody else is billed again
    late = invoice_of("B-2", OCT)
    assert (late.number, late.seq) == ("INV-2026-10-000002", 2)
    with session_scope() as session:
        run = session.get(BillingRun, run_id)
        assert run is not None and (run.seq, run.kind, run.invoice_count) == (2, RunKind.SUPPLEMENT, 1)
        assert session.scalar(select(func.count()).select_from(Invoice)) == 2
    # and a supplement with nobody left to bill issues nothing
    assert issue_count(issue(OCT, RunKind.SUPPLEMENT)) == 0


def issue_count(run_id: int) -> int:
    with session_scope() as session:
        run = session.get(BillingRun, run_id)
        assert run is not None
        return run.invoice_count


def test_the_invoice_keeps_the_bill_to_of_its_issue(db) -> None:
    # given October issued
    issue(OCT)
    # when the subscriber moves and renames
    summary = load(
        {"subscribers": [subscriber("A-1", name="Jürgen Schmidt", address=["Neuer Weg 9", "Hamburg"])]}
    )
    # then the import updated the subscriber, and the invoice still has what it was issued with
    assert summary.subscribers.updated == 1
    october = invoice_of("A-1", OCT)
    assert (october.bill_name, october.bill_address) == ("Jürgen Müller", ["Hauptstr. 1", "10115 Berlin"])
    issue(NOV)
    assert invoice_of("A-1", NOV).bill_name == "Jürgen Schmidt"


# --- credit notes ----------------------------------------------------------------------------


def credit(number: str, amount: str | None = None, reason: str | None = None) -> Invoice:
    with session_scope() as session:
        _, note = issue_credit_note(session, SETTINGS, number, D(amount) if amount else None, reason)
        note.lines  # noqa: B018
        return note


def test_a_full_credit_reverses_every_line(db) -> None:
    issue(OCT)
    invoice = invoice_of("A-1", OCT)
    # when the whole invoice is credited
    note = credit(invoice.number, reason="duplicate contract")
    # then the credit note mirrors it line by line, in its own series, referring to it
    assert (note.number, note.kind, note.credited_invoice_id) == (
        "CN-2026-10-000001",
        DocumentKind.CREDIT_NOTE,
        invoice.id,
    )
    assert [line.amount for line in note.lines] == [-line.amount for line in invoice.lines]
    assert (note.subtotal, note.tax, note.total) == (-invoice.subtotal, -invoice.tax, -invoice.total)
    assert note.reason == "duplicate contract"
    with session_scope() as session:
        assert credited_so_far(session, invoice).fully_credited
    # and nothing is left to credit
    with pytest.raises(BillingError, match="fully credited already"):
        credit(invoice.number, "0.01")


def test_partial_credits_never_exceed_the_invoice(db) -> None:
    issue(OCT)
    invoice = invoice_of("A-1", OCT)  # 9.90 + 7.00 = 16.90 net, 3.21 tax, 20.11 total
    assert invoice.total == D("20.11")
    # when 11.90 gross is credited
    first = credit(invoice.number, "11.90")
    # then it splits into 10.00 net and 1.90 tax, and adds up exactly
    assert (first.subtotal, first.tax, first.total) == (D("-10.00"), D("-1.90"), D("-11.90"))
    assert sum((line.amount for line in first.lines), D(0)) == first.subtotal
    # in the language of the invoice it credits (a de_DE subscriber)
    assert [line.description for line in first.lines] == [f"Gutschrift zur Rechnung {invoice.number}"]
    # when more than what is left is asked for
    with pytest.raises(BillingError, match=r"exceeds what is left to credit: 8\.21 EUR"):
        credit(invoice.number, "8.22")
    # then nothing was written, and the rest can still be credited exactly
    second = credit(invoice.number)
    assert second.total == D("-8.21") and second.number == "CN-2026-10-000002"
    with session_scope() as session:
        done = credited_so_far(session, invoice)
        assert done.remaining == 0 and done.credited == invoice.total and done.notes == 2


@pytest.mark.parametrize(
    ("amount", "message"),
    [
        ("0", "must be more than 0"),
        ("-5", "must be more than 0"),
        ("1.001", "more decimals than EUR has (2)"),
    ],
)
def test_bad_credit_amounts_write_nothing(db, amount: str, message: str) -> None:
    issue(OCT)
    number = invoice_of("A-1", OCT).number
    with pytest.raises(BillingError, match=re.escape(message)):
        credit(number, amount)
    with session_scope() as session:
        assert session.scalar(select(func.count()).select_from(BillingRun)) == 1


def test_crediting_a_credit_note_or_an_unknown_number_is_refused(db) -> None:
    issue(OCT)
    note = credit(invoice_of("A-1", OCT).number, "1.00")
    with pytest.raises(BillingError, match=r"CN-2026-10-000001 is a credit note; credit the invoice"):
        credit(note.number, "0.50")
    with pytest.raises(BillingError, match="no invoice 'INV-2026-10-999999'"):
        credit("INV-2026-10-999999")


# --- import, again and again -------------------------------------------------------------------


def test_charges_without_id_are_keyed_by_content_and_occurrence(db) -> None:
    # given two identical charges without id in one file: two charges
    twice = {"charges": [charge("A-1", "2026-11"), charge("A-1", "2026-11")]}
    assert load(twice).charges.created == 2
    # when the same file comes again, with the quantity written differently
    again = copy.deepcopy(twice)
    again["charges"][0]["quantity"] = "2.00"
    summary = load(again)
    # then nothing is added
    assert (summary.charges.created, summary.charges.unchanged) == (0, 2)
    # and a third identical line is a third charge
    assert load({"charges": [charge("A-1", "2026-11")] * 3}).charges.created == 1


def test_a_charge_id_reused_with_other_content_is_refused(db) -> None:
    with pytest.raises(ImportProblems) as info:
        load({"charges": [charge("A-1", "2026-10", id="e1", unit_price="4.00")]})
    assert any("id: 'e1' was imported before with other content" in p for p in info.value.problems)
    with pytest.raises(ImportProblems) as info:
        load(
            {"charges": [charge("A-1", "2026-11", id="n1"), charge("A-1", "2026-11", id="n1", quantity="9")]}
        )
    assert info.value.problems == [
        "charges[1] (account 'A-1'): id: 'n1' is used by charges[0] (account 'A-1') with other content"
    ]


def test_csv_files_import_like_json(env, tmp_path: Path) -> None:
    init_db()
    # given the same data as CSV files, named anything: the header tells what they hold
    (tmp_path / "p.csv").write_text(
        "code,name,monthly_fee,currency\nbasic,Basic 100,9.90,EUR\n", encoding="utf-8"
    )
    (tmp_path / "people.csv").write_text(
        "account,name,email,address,country,locale,currency,tax_rate,plan,active_from,active_to\n"
        'A-1,"Müller, Jürgen",j@example.org,Hauptstr. 1|10115 Berlin,DE,de_DE,EUR,19,basic,2026-01-01,\n',
        encoding="utf-8",
    )
    (tmp_path / "usage.csv").write_text(
        "id,account,period,description,quantity,unit_price\n"
        "e1,A-1,2026-10,Roaming 2 GB,2,3.50\n"
        ",A-1,2026-10,SMS,3,0.10\n",
        encoding="utf-8",
    )
    files = [tmp_path / "p.csv", tmp_path / "people.csv", tmp_path / "usage.csv"]
    # when imported twice
    with session_scope() as session:
        first = import_files(session, files)
    with session_scope() as session:
        second = import_files(session, files)
    # then the first creates, the second changes nothing
    assert (first.plans.created, first.subscribers.created, first.charges.created) == (1, 1, 2)
    assert (second.plans.unchanged, second.subscribers.unchanged, second.charges.unchanged) == (1, 1, 2)
    with session_scope() as session:
        sub = session.scalars(select(Subscriber)).one()
        assert sub.name == "Müller, Jürgen" and sub.address == ["Hauptstr. 1", "10115 Berlin"]
        assert sub.active_to is None and sub.vat_id is None


@pytest.mark.parametrize(
    ("header", "message"),
    [
        ("account,period,description,quantity,unit_price,colour", "unknown column for charges: colour"),
        ("account,period,description,unit_price", "missing required column for charges: quantity"),
        ("foo,bar", "cannot tell plans, subscribers or charges from the header (foo, bar)"),
    ],
)
def test_csv_with_a_wrong_header_imports_nothing(db, tmp_path: Path, header: str, message: str) -> None:
    path = tmp_path / "charges.csv"
    path.write_text(header + "\n", encoding="utf-8")
    with pytest.raises(ImportProblems) as info, session_scope() as session:
        import_files(session, [path])
    assert len(info.value.problems) == 1 and info.value.problems[0].startswith(f"charges.csv: {message}")


# --- the whole life ---------------------------------------------------------------------------

ACCOUNTS = ("A-1", "B-2", "C-3")
MONTHS = (Period(2026, 9), OCT, NOV, DEC)

step = st.one_of(
    st.tuples(st.just("charge"), st.sampled_from(ACCOUNTS), st.sampled_from(MONTHS), st.integers(1, 999)),
    st.tuples(st.just("join"), st.sampled_from(ACCOUNTS[1:]), st.sampled_from(MONTHS), st.just(0)),
    st.tuples(st.just("run"), st.just(""), st.sampled_from(MONTHS), st.just(0)),
    st.tuples(st.just("credit"), st.sampled_from(ACCOUNTS), st.sampled_from(MONTHS), st.integers(1, 3000)),
)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(steps=st.lists(step, min_size=3, max_size=18))
def test_the_whole_life_adds_up(
    steps: list[tuple[str, str, Period, int]], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Over months of imports, late data, supplements and credits: every charge is on at
    most one invoice, each invoice is its fee and its charges under the money rule, and
    credits never take an invoice below zero."""
    with tempfile.TemporaryDirectory() as folder, fresh_database(monkeypatch, Path(folder) / "life.db"):
        load({"plans": [PLAN], "subscribers": [subscriber("A-1")]})
        joined = {"A-1"}
        for kind, account, month, n in steps:
            if kind == "charge" and account in joined:
                load({"charges": [charge(account, str(month), f"usage {n}", unit_price=f"{n / 100:.2f}")]})
            elif kind == "join" and account not in joined:
                load({"subscribers": [subscriber(account, active_from=str(month.start))]})
                joined.add(account)
            elif kind == "run":
                with session_scope() as session:
                    seq = session.scalar(
                        select(func.count()).select_from(BillingRun).where(BillingRun.period == str(month))
                    )
                issue(month, RunKind.SUPPLEMENT if seq else RunKind.BILLING)
            elif kind == "credit":
                with session_scope() as session:
                    number = session.scalar(
                        select(Invoice.number)
                        .join(Subscriber)
                        .where(
                            Subscriber.account == account,
                            Invoice.period == str(month),
                            Invoice.kind == DocumentKind.INVOICE,
                        )
                    )
                if number is not None:
                    try:
                        credit(number, f"{n / 100:.2f}")
                    except BillingError as exc:
                        assert "exceeds what is left" in str(exc) or "fully credited" in str(exc)
        check_ledger()


@contextmanager
def fresh_database(monkeypatch: pytest.MonkeyPatch, path: Path) -> Iterator[None]:
    from invoicing.config import get_settings
    from invoicing.db import _engines

    monkeypatch.setenv("INVOICING_DATABASE_URL", f"sqlite:///{path}")
    get_settings.cache_clear()
    init_db()
    try:
        yield
    finally:
        _engines.pop(f"sqlite:///{path}").dispose()
        monkeypatch.delenv("INVOICING_DATABASE_URL")
        get_settings.cache_clear()


def check_ledger() -> None:
    with session_scope() as session:
        invoices = session.scalars(select(Invoice)).all()
        lines = defaultdict(list)
        for row in session.scalars(select(InvoiceLineRow)):
            lines[row.invoice_id].append(row.amount)
        charges = session.execute(select(Charge.invoice_id, Charge.quantity, Charge.unit_price)).all()
        billed = defaultdict(list)
        for invoice_id, quantity, unit_price in charges:
            if invoice_id is not None:
                billed[invoice_id].append(round_money(quantity * unit_price, "EUR"))
        credited = defaultdict(lambda: D(0))
        for invoice in invoices:
            assert invoice.subtotal == sum(lines[invoice.id], D(0))
            assert invoice.total == invoice.subtotal + invoice.tax
            if invoice.kind == DocumentKind.INVOICE:
                # its fee (first line) and exactly the charges that name it
                assert sorted(lines[invoice.id][1:]) == sorted(billed[invoice.id])
                assert invoice.tax == round_money(invoice.subtotal * invoice.tax_rate / 100, "EUR")
            else:
                assert invoice.total < 0
                credited[invoice.credited_invoice_id] += invoice.total
        totals = {i.id: i.total for i in invoices if i.kind == DocumentKind.INVOICE}
        for invoice_id, amount in credited.items():
            assert totals[invoice_id] + amount >= 0
        numbers = [i.number for i in invoices]
        assert len(numbers) == len(set(numbers))
        for kind in DocumentKind:
            for period in {i.period for i in invoices}:
                seqs = sorted(i.seq for i in invoices if i.kind == kind and i.period == period)
                assert seqs == list(range(1, len(seqs) + 1)), "gapless"
