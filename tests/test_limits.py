"""Limits that fail fast, through the real command: what a run cannot hold is refused
at import naming its row; numbers only in plain ASCII decimal form; an import's size,
nesting and CSV cells capped; periods within 2000-01..2099-12 for every command; credit
amounts checked. Each: exit 2, the one line that says why, and nothing changed."""

from __future__ import annotations

import copy
import csv
import json
import shutil
import sqlite3
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from invoicing.billing import Period, create_run
from invoicing.billing.importer import ImportProblems, import_data
from invoicing.config import get_settings
from invoicing.db import init_db, session_scope
from invoicing.models import BillingRun, Charge, Invoice, Plan, RunSkip, Subscriber
from tests.support.envs import Env, embedded, forget_engines
from tests.support.factories import VALID_IMPORT, initialized, write_json
from tests.support.runs import count_rows

OUT_OF_RANGE = "not a period (YYYY-MM) from 2000-01 to 2099-12"
LARGEST = "more than the largest amount, 9999999999.99"


def counts() -> tuple[int, ...]:
    return tuple(count_rows(model) for model in (Plan, Subscriber, Charge, BillingRun, Invoice))


def changed(section: str, **changes: Any) -> dict[str, Any]:
    data = copy.deepcopy(VALID_IMPORT)
    data[section][0].update(changes)
    return data


def with_charges(*charges: dict[str, Any]) -> dict[str, Any]:
    data = copy.deepcopy(VALID_IMPORT)
    data["charges"] = [{**data["charges"][0], **charge} for charge in charges]
    return data


def refused(env: Env, *args: str, **extra: str) -> str:
    """Run `invoicing ARGS`, which must exit 2 changing nothing; its stderr."""
    before = counts()
    result = env.invoke(*args, **extra)
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    assert counts() == before, "a refused command must change nothing"
    return result.stderr


@pytest.fixture
def db(env: Env) -> Env:
    init_db()
    return env


# --- numbers ------------------------------------------------------------------------------------


@pytest.mark.parametrize("text", ["1_000", "１２", "١٢", "1E+3", "+5", ".5", "5.", "1,50", "0x10"])
@pytest.mark.parametrize(
    ("section", "field"),
    [
        ("charges", "quantity"),
        ("charges", "unit_price"),
        ("subscribers", "tax_rate"),
        ("plans", "monthly_fee"),
    ],
)
def test_numbers_not_in_plain_ascii_decimal_form_are_refused(
    db: Env, section: str, field: str, text: str
) -> None:
    stderr = refused(db, "import", write_json(db, changed(section, **{field: text})))
    assert f"{section}[0] (" in stderr and f"{field}: not a number: {text!r}" in stderr, stderr


@pytest.mark.parametrize("text", ["1_0", "１０", "١٠", "1e1", "+10", " 10"])
@pytest.mark.parametrize(
    "args",
    [
        ("demo", "--count", "{}"),
        ("db", "seed", "--generate", "{}", "--period", "2026-10"),
        ("status", "{}"),
        ("runs", "--limit", "{}"),
        ("export", "{}", "-o", "index.zip"),
        ("serve", "--port", "80{}"),
    ],
)
def test_whole_numbers_on_the_command_line_are_plain_ascii_digits(
    db: Env, args: tuple[str, ...], text: str
) -> None:
    # given a whole number written as Python's int() would still read it
    given = [arg.format(text) for arg in args]
    (value,) = (arg.format(text) for arg in args if "{}" in arg)
    # when / then: refused as click refuses a bad value, naming the value, nothing done
    stderr = refused(db, *given)
    assert f"{value!r} is not a valid integer (digits 0-9 only, like 10)" in stderr, stderr


@pytest.mark.parametrize("text", ["nan", "inf", "1e1", "1_0", "٣٠"])
def test_seconds_on_the_command_line_are_plain_ascii_decimals(db: Env, text: str) -> None:
    stderr = refused(db, "demo", "--timeout", text)
    assert f"{text!r} is not a valid number of seconds" in stderr, stderr


def test_minus_zero_is_imported_as_zero(db: Env) -> None:
    # given a charge of -0 at -0.00
    data = with_charges({"quantity": "-0", "unit_price": "-0.00"})
    # when it is imported
    result = db.invoke("import", write_json(db, data))
    # then it is stored as zero, no sign
    assert result.exit_code == 0, result.output
    with session_scope() as session:
        charge = session.query(Charge).one()
        assert (str(charge.quantity), str(charge.unit_price)) == ("0", "0.00")


@pytest.mark.parametrize(
    ("section", "changes", "expected"),
    [
        ("charges", {"quantity": "1234567890123"}, "quantity: more than 12 digits before the decimal point"),
        ("charges", {"quantity": "1.00001"}, "quantity: more than 4 decimal places"),
        ("charges", {"unit_price": "1.1234567"}, "unit_price: more than 6 decimal places"),
        ("subscribers", {"tax_rate": "19.0001"}, "tax_rate: more than 3 decimal places"),
        ("charges", {"unit_price": "100000000000"}, f"unit_price: 100000000000 is {LARGEST}"),
        ("charges", {"unit_price": "-10000000000"}, f"unit_price: -10000000000 is {LARGEST}"),
        ("plans", {"monthly_fee": "10000000000"}, f"monthly_fee: 10000000000 is {LARGEST}"),
        ("charges", {"period": "2100-01"}, f"period: {OUT_OF_RANGE}: '2100-01'"),
        ("charges", {"period": "١٩٩٩-١٠"}, "period: not a period (YYYY-MM): '١٩٩٩-١٠'"),
        ("subscribers", {"active_from": "٢٠٢٦-٠١-٠١"}, "active_from: not a date (YYYY-MM-DD)"),
    ],
)
def test_a_number_beyond_its_column_or_the_largest_amount_is_refused_with_its_row(
    db: Env, section: str, changes: dict[str, str], expected: str
) -> None:
    stderr = refused(db, "import", write_json(db, changed(section, **changes)))
    assert f"{section}[0] (" in stderr and expected in stderr, stderr


# --- what an invoice holds ----------------------------------------------------------------------


def test_a_line_beyond_the_largest_amount_is_refused_naming_its_row(db: Env) -> None:
    # quantity 1000 at 100,000,000 (each fits its column): a line of 10^11
    data = with_charges({"quantity": "3"}, {"quantity": "1000", "unit_price": "100000000"})
    stderr = refused(db, "import", write_json(db, data))
    assert (
        "charges[1] (account 'A-0001'): quantity x unit_price: 1000 x 100000000 = 100000000000.00 EUR, "
        f"{LARGEST}"
    ) in stderr, stderr
    assert "charges[0]" not in stderr


@pytest.mark.parametrize(
    ("quantity", "unit_price", "expected"),
    [
        ("1000", "100000000000", f"unit_price: 100000000000 is {LARGEST}"),
        (
            "100000",
            "1000000000",
            f"quantity x unit_price: 100000 x 1000000000 = 100000000000000.00 EUR, {LARGEST}",
        ),
    ],
)
def test_a_charge_postgres_cannot_bill_is_refused_there_as_on_sqlite(
    pg_env: Env, quantity: str, unit_price: str, expected: str
) -> None:
    init_db()
    stderr = refused(
        pg_env, "import", write_json(pg_env, with_charges({"quantity": quantity, "unit_price": unit_price}))
    )
    assert f"charges[0] (account 'A-0001'): {expected}" in stderr, stderr


def test_an_invoice_beyond_the_largest_amount_is_refused_naming_its_rows(db: Env) -> None:
    # two lines of 4.5 billion: 9 billion with 19 % tax is 10.71 billion
    data = with_charges(
        {"quantity": "1", "unit_price": "4500000000"}, {"quantity": "1", "unit_price": "4500000000"}
    )
    stderr = refused(db, "import", write_json(db, data))
    assert (
        "charges[0] (account 'A-0001'), charges[1] (account 'A-0001'): account A-0001, period 2026-10: "
        f"the invoice's total would be 10710000011.78 EUR, {LARGEST}"
    ) in stderr, stderr


def test_charges_already_imported_count_towards_the_invoice(db: Env) -> None:
    # given one line of 4.5 billion imported
    first = {
        "charges": [{**VALID_IMPORT["charges"][0], "id": "a", "quantity": "1", "unit_price": "4500000000"}]
    }
    db.invoke("import", write_json(db, VALID_IMPORT, "base.json"))
    assert db.invoke("import", write_json(db, first, "first.json")).exit_code == 0
    # when a second one comes in a later file
    second = {"charges": [{**first["charges"][0], "id": "b"}]}
    stderr = refused(db, "import", write_json(db, second, "second.json"))
    # then that file's row is named, with the invoice both make
    assert "charges[0] (account 'A-0001'): account A-0001, period 2026-10: the invoice's total" in stderr


def test_a_plan_fee_whose_invoice_exceeds_the_largest_amount_refuses_the_subscriber(db: Env) -> None:
    # a fee within the largest amount, but with 19 % tax beyond it
    data = changed("plans", monthly_fee="9000000000")
    data["charges"] = []
    stderr = refused(db, "import", write_json(db, data))
    assert (
        "subscribers[0] (account 'A-0001'): account A-0001: the invoice's total would be 10710000000.00 EUR"
        in stderr
    )


def test_more_charges_than_an_invoice_holds_are_refused_naming_account_period_and_count(db: Env) -> None:
    data = with_charges(*({"id": f"e{n}"} for n in range(5)))
    stderr = refused(db, "import", write_json(db, data), INVOICING_MAX_LINES="5")
    assert (
        "account A-0001, period 2026-10: 5 charges, more than an invoice holds "
        "(5 lines with the plan fee, INVOICING_MAX_LINES)"
    ) in stderr, stderr
    named = ", ".join(f"charges[{n}] (account 'A-0001')" for n in range(3))
    assert f"{named} and 2 more: account A-0001" in stderr, stderr


def test_every_bad_row_is_reported_in_one_pass(db: Env) -> None:
    data = with_charges({"quantity": "1_0"}, {"quantity": "1000", "unit_price": "100000000"})
    data["subscribers"][0]["tax_rate"] = "١٩"
    stderr = refused(db, "import", write_json(db, data))
    assert "subscribers[0]" in stderr and "charges[0]" in stderr
    assert "2 invalid rows; nothing was imported" in stderr, stderr


# --- the import file ----------------------------------------------------------------------------


def test_json_nested_deeper_than_the_format_is_refused(db: Env) -> None:
    path = db.path / "deep.json"
    path.write_text('{"plans": ' + "[" * 100_000 + "]" * 100_000 + "}", encoding="utf-8")
    stderr = refused(db, "import", str(path))
    assert f"{path}: nested deeper than 8 levels (the import format needs 4)" in stderr, stderr


def test_json_a_little_too_deep_is_refused_the_same_way(db: Env) -> None:
    path = write_json(db, {"plans": [[[[[[[[["x"]]]]]]]]]})
    assert "nested deeper than 8 levels" in refused(db, "import", path)


@pytest.mark.parametrize("digits", [41, 5000])
def test_a_json_integer_longer_than_any_field_is_refused_on_one_line(db: Env, digits: int) -> None:
    # given a charge whose price is a bare JSON integer of thousands of digits (past
    # Python's own 4,300-digit limit, whose message names an interpreter setting)
    path = db.path / "long.json"
    text = json.dumps(with_charges({"unit_price": "@"})).replace('"@"', "9" * digits)
    path.write_text(text, encoding="utf-8")
    # when / then: the file is refused by its length, in the project's words
    stderr = refused(db, "import", str(path))
    assert f"{path}: a number of {digits:,} digits, longer than any field holds" in stderr, stderr
    assert "set_int_max_str_digits" not in stderr


def test_a_file_larger_than_the_setting_is_refused(db: Env) -> None:
    # a valid file, padded past 1 MiB
    path = db.path / "large.json"
    path.write_text(json.dumps(VALID_IMPORT) + " " * (2**20), encoding="utf-8")
    stderr = refused(db, "import", str(path), INVOICING_IMPORT_MAX_MB="1")
    assert f"{path}: larger than 1 MiB, the most an import reads (INVOICING_IMPORT_MAX_MB)" in stderr


def test_a_csv_cell_longer_than_any_field_is_refused_and_the_limit_put_back(db: Env) -> None:
    limit = csv.field_size_limit()
    path = db.path / "charges.csv"
    path.write_text(
        "account,period,description,quantity,unit_price\nA-0001,2026-10," + "x" * 5000 + ",1,1.00\n",
        encoding="utf-8",
    )
    db.invoke("import", write_json(db, {**VALID_IMPORT, "charges": []}))
    stderr = refused(db, "import", str(path))
    assert "charges.csv line 2: a cell longer than 4,096 characters" in stderr, stderr
    assert csv.field_size_limit() == limit


# --- periods ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "args",
    [
        ("run", "--period", "9999-12"),
        ("run", "--period", "9999-12", "--dry-run"),
        ("run", "--period", "1999-12", "--dry-run"),
        ("render", "--account", "A-0001", "--period", "2100-01", "-o", "x.pdf"),
        ("merge", "--accounts", "A-0001", "--period", "0001-01", "-o", "x.pdf"),
        ("db", "seed", "--generate", "1", "--period", "9999-12"),
    ],
)
def test_a_period_out_of_range_is_refused_by_every_command(db: Env, args: tuple[str, ...]) -> None:
    stderr = refused(db, *args)
    assert f"Invalid value for '--period': {OUT_OF_RANGE}" in stderr, stderr
    assert not (db.path / "x.pdf").exists()


@pytest.mark.parametrize("text", ["٢٠٢٦-١٠", "２０２６-１０"])
def test_a_period_in_other_digits_is_refused(db: Env, text: str) -> None:
    stderr = refused(db, "run", "--period", text, "--dry-run")
    assert f"Invalid value for '--period': not a period (YYYY-MM): {text!r}" in stderr, stderr


# --- credit amounts -----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def issued(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A database with one rendered invoice (INV-2026-10-000001, 20.11 EUR), made once by
    the real commands; each test works on a copy."""
    path = tmp_path_factory.mktemp("issued")
    env = embedded(path)
    initialized(env)
    env.cli("import", write_json(env, VALID_IMPORT), check=True)
    env.cli("run", "--period", "2026-10", check=True)
    yield path


@pytest.fixture
def invoiced(env: Env, issued: Path) -> Env:
    # SQLite's backup: the write-ahead log's pages come along.
    with (
        sqlite3.connect(issued / "invoicing.db") as source,
        sqlite3.connect(env.path / "invoicing.db") as copy,
    ):
        source.backup(copy)
    shutil.copytree(issued / "output", env.path / "output")
    return env


@pytest.mark.parametrize(
    ("amount", "expected"),
    [
        ("1E+26", "Invalid value for '--amount': not an amount: '1E+26'"),
        (
            "100000000000000000000000000",
            f"Invalid value for '--amount': 100000000000000000000000000 is {LARGEST}",
        ),
        ("NaN", "Invalid value for '--amount': not an amount: 'NaN'"),
        ("Infinity", "Invalid value for '--amount': not an amount: 'Infinity'"),
        ("1_0", "Invalid value for '--amount': not an amount: '1_0'"),
        ("１０", "Invalid value for '--amount': not an amount: '１０'"),
        ("+5", "Invalid value for '--amount': not an amount: '+5'"),
        ("-0", "--amount must be more than 0, got 0"),
        ("1.001", "--amount 1.001: more decimals than EUR has (2)"),
        ("20.12", "--amount 20.12 exceeds what is left to credit: 20.11 EUR"),
        ("9999999999.99", "--amount 9999999999.99 exceeds what is left to credit: 20.11 EUR"),
    ],
)
def test_a_credit_amount_that_cannot_be_is_refused(invoiced: Env, amount: str, expected: str) -> None:
    stderr = refused(invoiced, "credit", "INV-2026-10-000001", "--amount", amount)
    assert expected in stderr, stderr


# --- what import accepts, a run issues ------------------------------------------------------------


def _decimal_text(unscaled: int, places: int) -> str:
    return format(Decimal(unscaled).scaleb(-places), "f")


# Magnitudes spread over every order (a uniform integer would nearly always be huge), a
# few decimal places more than any column keeps.
amounts = st.builds(
    _decimal_text, st.integers(0, 17).flatmap(lambda k: st.integers(-(10**k), 10**k)), st.integers(0, 7)
)
fees = st.builds(
    _decimal_text, st.integers(0, 15).flatmap(lambda k: st.integers(0, 10**k)), st.integers(0, 3)
)
rates = st.builds(_decimal_text, st.integers(0, 100_000), st.integers(0, 4))


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    fee=fees,
    rate=rates,
    charges=st.lists(st.tuples(amounts, amounts), min_size=1, max_size=3),
)
def test_what_import_accepts_a_run_issues_and_what_it_refuses_names_a_row(
    env: Env, fee: str, rate: str, charges: list[tuple[str, str]]
) -> None:
    # given any fee, tax rate and charges in plain decimal form, on a fresh database
    (env.path / "invoicing.db").unlink(missing_ok=True)
    forget_engines()
    init_db()
    data = changed("plans", monthly_fee=fee)
    data["subscribers"][0]["tax_rate"] = rate
    data["charges"] = [
        {**VALID_IMPORT["charges"][0], "id": f"e{n}", "quantity": quantity, "unit_price": unit_price}
        for n, (quantity, unit_price) in enumerate(charges)
    ]
    # when it is imported
    try:
        with session_scope() as session:
            import_data(session, data)
    except ImportProblems as exc:
        event("refused at import")
        # then either every problem names a row (or rows) and nothing is imported
        assert all(p.startswith(("plans[0] (", "subscribers[0] (", "charges[")) for p in exc.problems), (
            exc.problems
        )
        assert counts() == (0, 0, 0, 0, 0)
        return
    event("imported")
    # or the run issues the subscriber's invoice, skipping nobody
    with session_scope() as session:
        run = create_run(session, get_settings(), Period(2026, 10))
        skipped = session.scalars(select(RunSkip.reason).where(RunSkip.run_id == run.id)).all()
        assert (run.invoice_count, skipped) == (1, [])


# Amounts and prices as texts: plain ones of every length around the pattern's, long
# ones, more places than a column keeps, trailing zeros, exponents, NaN and infinities.
_TEXTS = st.one_of(
    st.integers(0, 7).flatmap(
        lambda places: st.decimals(min_value=-(10**13), max_value=10**13, places=places)
    ),
    st.decimals(allow_nan=True, allow_infinity=True),
    st.builds(
        lambda d, p: f"{d:.{p}f}",
        st.decimals(min_value=-(10**11), max_value=10**11, places=6),
        st.integers(0, 7),
    ),
).map(str)


@settings(max_examples=300, deadline=None)
@given(quantity=_TEXTS, unit_price=_TEXTS, currency=st.sampled_from(["EUR", "JPY", "KWD"]))
def test_sqlite_issuing_lets_through_what_the_limits_do(
    quantity: str, unit_price: str, currency: str
) -> None:
    """Issuing on SQLite tells most line amounts fit by their text (`billing.setbased`);
    it decides every one as `billing.limits` does."""
    from invoicing.billing.limits import line_problem
    from invoicing.billing.money import round_money
    from invoicing.billing.sqlite_money import _money_line

    try:
        q, p = Decimal(quantity), Decimal(unit_price)
        line = round_money(q * p, currency)
        expected = None if line_problem(q, p, line) else str(line)
    except (ArithmeticError, ValueError):
        expected = None
    assert _money_line(quantity, unit_price, currency) == expected


@settings(max_examples=300, deadline=None)
@given(amount=_TEXTS, currency=st.sampled_from(["EUR", "JPY", "KWD"]))
def test_sqlite_totals_are_written_and_refused_as_the_money_rule_and_the_limits_say(
    amount: str, currency: str
) -> None:
    """Issuing on SQLite adds an invoice's amounts up as integers of minor units
    (`billing.setbased`): the text it writes for one is what the money rule rounds it to,
    and it refuses (NULL: the subscriber is judged in Python) what `billing.limits` does."""
    from sqlalchemy import create_engine, literal

    from invoicing.billing.limits import amount_problem
    from invoicing.billing.money import round_money
    from invoicing.billing.sqlite_money import decimal_text, within_max

    try:
        rounded = round_money(Decimal(amount), currency)
    except ArithmeticError:
        return  # no number: the line holding it was flagged before any total
    if not rounded.is_finite():
        return
    places = -int(rounded.as_tuple().exponent)
    minor = int(rounded.scaleb(places))
    if abs(minor) >= 2**63:
        return  # a sum of lines that each fit stays far below (`SUMMED_LINES`)
    unit = literal(10**places)
    with create_engine("sqlite://").connect() as connection:
        written = connection.scalar(select(decimal_text(within_max(literal(minor), unit), unit)))
    # A zero is written without a sign, as PostgreSQL writes its NUMERIC.
    expected = None if amount_problem(rounded) else str(abs(rounded) if rounded == 0 else rounded)
    assert written == expected


@settings(max_examples=300, deadline=None)
@given(
    subtotal=st.integers(-(10**13), 10**13),
    rate=st.decimals(min_value=0, max_value=100, places=3),
    currency=st.sampled_from(["EUR", "JPY", "KWD"]),
)
def test_sqlite_tax_in_minor_units_is_the_money_rules(subtotal: int, rate: Decimal, currency: str) -> None:
    """Issuing on SQLite rounds the tax in integers of minor units (`billing.setbased`):
    for any subtotal within the largest amount and any rate the limits take, it is the tax
    the money rule gives, half up on the halves."""
    from sqlalchemy import create_engine, literal

    from invoicing.billing.money import MAX_AMOUNT, minor_unit, round_money
    from invoicing.billing.sqlite_money import PER_MILLI_PERCENT, _money_tax, half_up, rate_milli, within_max

    places = -int(minor_unit(currency).as_tuple().exponent)
    major = Decimal(subtotal).scaleb(-places)
    milli = rate_milli(str(rate))
    assert milli is not None
    unit = literal(10**places)
    with create_engine("sqlite://").connect() as connection:
        tax = connection.scalar(
            select(half_up(within_max(literal(subtotal), unit) * literal(milli), PER_MILLI_PERCENT))
        )
    if abs(major) > MAX_AMOUNT:
        assert tax is None
    else:
        assert tax == int(round_money(major * rate / 100, currency).scaleb(places))
        # the same in Python, as currencies of 4 places take it
        assert _money_tax(subtotal, str(rate), currency, places) == tax
