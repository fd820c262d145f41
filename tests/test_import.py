"""`db seed`: valid data goes in whole; any invalid row and nothing goes in."""

from __future__ import annotations

import copy
import json
import tracemalloc
from decimal import Decimal
from pathlib import Path
from typing import cast

import pytest
from sqlalchemy import Table, insert, select, text
from sqlalchemy.orm import Session

from invoicing.billing.importer import ImportProblems, import_data
from invoicing.billing.importer.upsert import ANALYZE_AFTER
from invoicing.db import init_db, session_scope
from invoicing.models import Charge, Plan, Subscriber
from invoicing.synthetic import synthetic_dataset
from tests.support.envs import Env
from tests.support.factories import FIXTURES, VALID_IMPORT
from tests.support.runs import count_rows


def counts() -> tuple[int, int, int]:
    return count_rows(Plan), count_rows(Subscriber), count_rows(Charge)


def problems_for(data: object) -> list[str]:
    with pytest.raises(ImportProblems) as info:
        with session_scope() as session:
            import_data(session, data)
    assert counts() == (0, 0, 0), "an invalid file must import nothing"
    return info.value.problems


@pytest.fixture
def db(env: Env) -> Env:
    init_db()
    return env


def with_change(section: str, index: int, **changes: object) -> dict:
    data = copy.deepcopy(VALID_IMPORT)
    row = data[section][index]
    for key, value in changes.items():
        if value is ...:
            row.pop(key)
        else:
            row[key] = value
    return data


def test_good_data_imports_with_exact_decimals(db: Env) -> None:
    # given / when
    with session_scope() as session:
        summary = import_data(session, copy.deepcopy(VALID_IMPORT))
    # then
    assert (summary.plans.created, summary.subscribers.created, summary.charges.created) == (1, 1, 1)
    with session_scope() as session:
        plan = session.scalars(select(Plan)).one()
        charge = session.scalars(select(Charge)).one()
        sub = session.scalars(select(Subscriber)).one()
        assert plan.monthly_fee == Decimal("9.90") and isinstance(plan.monthly_fee, Decimal)
        assert charge.unit_price == Decimal("3.50") and charge.quantity == Decimal("2")
        assert sub.name == "Jürgen Müller" and sub.address == ["Hauptstr. 1", "10115 Berlin"]
        assert sub.tax_rate == Decimal("19")


def test_bundled_fixtures_import(db: Env) -> None:
    data = json.loads(FIXTURES.read_text(encoding="utf-8"))
    with session_scope() as session:
        summary = import_data(session, data)
    assert summary.subscribers.created == len(data["subscribers"]) >= 15
    assert counts() == (len(data["plans"]), len(data["subscribers"]), len(data["charges"]))


@pytest.mark.parametrize(
    ("section", "changes", "expected"),
    [
        ("subscribers", {"name": ...}, "subscribers[0] (account 'A-0001'): name: missing"),
        ("subscribers", {"tax_rate": "abc"}, "tax_rate: not a number: 'abc'"),
        ("subscribers", {"tax_rate": 19}, 'tax_rate: must be a decimal string like "9.90", got a number'),
        ("subscribers", {"tax_rate": "NaN"}, "tax_rate: must be a finite number"),
        ("subscribers", {"tax_rate": "Infinity"}, "tax_rate: must be a finite number"),
        ("subscribers", {"tax_rate": "120"}, "tax_rate: must be between 0 and 100"),
        ("subscribers", {"tax_rate": "-1"}, "tax_rate: must not be negative"),
        ("subscribers", {"plan": "gold"}, "plan: unknown plan 'gold'"),
        ("subscribers", {"currency": "XXY"}, "currency: unknown currency 'XXY'"),
        ("subscribers", {"currency": "USD"}, "currency: USD differs from plan 'basic' priced in EUR"),
        ("subscribers", {"locale": "xx_YY"}, "locale: unknown locale 'xx_YY'"),
        ("subscribers", {"country": "XX"}, "country: unknown country 'XX'"),
        ("subscribers", {"email": "nobody"}, "email: not an email address"),
        ("subscribers", {"active_from": "2026-13-01"}, "active_from: not a date (YYYY-MM-DD): '2026-13-01'"),
        ("subscribers", {"active_to": "2025-01-01"}, "active_to: before active_from"),
        ("subscribers", {"account": "../../etc"}, "account: must be 1-64 characters"),
        ("subscribers", {"name": "x" * 201}, "name: longer than 200 characters (201)"),
        ("subscribers", {"name": "Bad\x07Name"}, "name: contains control characters"),
        ("subscribers", {"address": []}, "address: must be a list of 1 to 6 address lines"),
        ("subscribers", {"address": ["a"] * 7}, "address: at most 6 address lines, got 7"),
        ("subscribers", {"nickname": "x"}, "nickname: unknown field"),
        ("charges", {"account": "A-9999"}, "charges[0] (account 'A-9999'): account: unknown account"),
        ("charges", {"period": "2026-13"}, "period: not a period (YYYY-MM): '2026-13'"),
        ("charges", {"period": "October"}, "period: not a period (YYYY-MM): 'October'"),
        ("charges", {"quantity": "1.23456"}, "quantity: more than 4 decimal places"),
        (
            "charges",
            {"unit_price": "1234567890123.5"},
            "unit_price: more than 12 digits before the decimal point",
        ),
        ("charges", {"unit_price": "1e400"}, "unit_price: not a number: '1e400'"),
        ("plans", {"monthly_fee": "-5"}, "monthly_fee: must not be negative"),
        ("plans", {"currency": "EURO"}, "currency: unknown currency 'EURO'"),
    ],
)
def test_each_bad_row_is_named_with_position_and_reason(
    db: Env, section: str, changes: dict, expected: str
) -> None:
    problems = problems_for(with_change(section, 0, **changes))
    assert any(expected in p for p in problems), problems


def test_duplicate_account_and_plan(db: Env) -> None:
    data = copy.deepcopy(VALID_IMPORT)
    data["subscribers"].append(copy.deepcopy(data["subscribers"][0]))
    data["plans"].append(copy.deepcopy(data["plans"][0]))
    problems = problems_for(data)
    assert "subscribers[1] (account 'A-0001'): duplicate account, already in this file" in problems
    assert "plans[1] (code 'basic'): duplicate plan code, already in this file" in problems


def test_importing_the_same_data_again_changes_nothing(db: Env) -> None:
    # given the data set imported once
    with session_scope() as session:
        import_data(session, copy.deepcopy(VALID_IMPORT))
    # when it is imported again
    with session_scope() as session:
        summary = import_data(session, copy.deepcopy(VALID_IMPORT))
    # then every row is unchanged, nothing is added
    assert [summary.plans.unchanged, summary.subscribers.unchanged, summary.charges.unchanged] == [1, 1, 1]
    assert [summary.plans.created, summary.subscribers.created, summary.charges.created] == [0, 0, 0]
    assert counts() == (1, 1, 1)


def test_every_bad_row_is_reported_not_just_the_first(db: Env) -> None:
    data = copy.deepcopy(VALID_IMPORT)
    data["subscribers"][0]["tax_rate"] = "x"
    data["charges"].append({**data["charges"][0], "quantity": "y"})
    data["charges"].append({**data["charges"][0], "account": "nobody"})
    problems = problems_for(data)
    assert len(problems) == 3, problems
    assert any(p.startswith("charges[1]") for p in problems)
    assert any(p.startswith("charges[2]") for p in problems)


def test_charges_may_reference_accounts_already_in_the_database(db: Env) -> None:
    with session_scope() as session:
        import_data(session, copy.deepcopy(VALID_IMPORT))
    november = {"charges": [{**VALID_IMPORT["charges"][0], "period": "2026-11"}]}
    with session_scope() as session:
        summary = import_data(session, november)
    assert summary.charges.created == 1


def test_an_import_holds_only_the_stored_accounts_its_charges_name(db: Env) -> None:
    """A short file of charges into a large database: the import looks up the accounts
    it names, it does not hold every stored one (9.4 MB at 40,000)."""
    with session_scope() as session:
        import_data(session, copy.deepcopy(VALID_IMPORT))
    charge = VALID_IMPORT["charges"][0]

    def peak(period: str) -> int:
        tracemalloc.start()
        try:
            with session_scope() as session:
                import_data(session, {"charges": [{**charge, "period": period}]})
            return tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()

    peak("2026-11")  # SQLAlchemy's statement caches warmed
    few = peak("2026-12")
    s = cast(Table, Subscriber.__table__)
    with session_scope() as session:
        first = session.execute(select(s).where(s.c.id == 1)).mappings().one()
        session.execute(insert(s), [{**first, "id": None, "account": f"X-{n:06d}"} for n in range(40_000)])
    assert count_rows(Subscriber) > 40_000
    many = peak("2027-01")
    assert many - few < 1_000_000, f"40,000 more stored subscribers added {many - few:,} bytes to an import"


@pytest.mark.postgres
def test_a_large_import_gives_postgresql_the_statistics_of_what_it_wrote(pg_env: Env) -> None:
    """Its own look-ups are then planned on the tables as they are, not as PostgreSQL last
    saw them (never, in a fresh database), whether or not autovacuum runs."""
    init_db()

    def planned_rows(session: Session) -> tuple[float, float]:
        known = "SELECT reltuples FROM pg_class WHERE relname = :name"
        return tuple(session.scalar(text(known), {"name": name}) for name in ("subscribers", "charges"))

    with session_scope() as session:
        import_data(session, copy.deepcopy(VALID_IMPORT))  # a few rows: left to autovacuum
        assert planned_rows(session) == (-1, -1)
    data = synthetic_dataset(6000, "2026-10", seed=3)
    assert len(data["subscribers"]) + len(data["charges"]) >= ANALYZE_AFTER
    with session_scope() as session:
        import_data(session, data)
        subscribers, charges = planned_rows(session)  # in the import's own transaction
    assert subscribers == 6000 + len(VALID_IMPORT["subscribers"])
    assert charges >= len(data["charges"])


def test_unicode_rtl_emoji_and_cjk_text_is_accepted(db: Env) -> None:
    data = with_change("subscribers", 0, name="مريم العلي 👩‍💻 山田太郎")
    with session_scope() as session:
        import_data(session, data)
    with session_scope() as session:
        assert session.scalars(select(Subscriber.name)).one() == "مريم العلي 👩‍💻 山田太郎"


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (b'{"plans": [', "not valid JSON"),
        (b"\xff\xfe\x00garbage", "not UTF-8"),
        (b"[1, 2]", "must hold a JSON object"),
        (b'{"plans": {}}', "plans: must be a list"),
        (b'{"plans": [], "extra": []}', "unknown section: extra"),
        (
            b'{"plans": [{"code": "a", "name": "A", "monthly_fee": NaN, "currency": "EUR"}]}',
            "NaN is not allowed",
        ),
        (b'{"plans": ["just a string"]}', "plans[0]: must be an object, got a string"),
    ],
)
def test_malformed_files_via_cli(db: Env, tmp_path: Path, content: bytes, expected: str) -> None:
    bad = tmp_path / "bad.json"
    bad.write_bytes(content)
    result = db.invoke("db", "seed", "--fixtures", str(bad))
    assert result.exit_code == 2, result.output
    assert expected in result.stderr
    assert "Traceback" not in result.output
    assert counts() == (0, 0, 0)


def test_seed_cli_reports_every_problem_and_exit_2(db: Env, tmp_path: Path) -> None:
    data = copy.deepcopy(VALID_IMPORT)
    data["subscribers"][0]["locale"] = "nope"
    data["charges"][0]["unit_price"] = "1,50"
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(data), encoding="utf-8")
    result = db.invoke("db", "seed", "--fixtures", str(bad))
    assert result.exit_code == 2
    assert "subscribers[0] (account 'A-0001'): locale: unknown locale 'nope'" in result.stderr
    assert "charges[0] (account 'A-0001'): unit_price: not a number: '1,50'" in result.stderr
    assert "2 invalid rows; nothing was imported" in result.stderr
    assert "Traceback" not in result.output
    assert counts() == (0, 0, 0)


def test_seed_missing_file(db: Env) -> None:
    result = db.invoke("db", "seed", "--fixtures", "nope.json")
    assert result.exit_code == 2 and "nope.json: no such file" in result.stderr


def test_generate_is_deterministic_and_importable(db: Env) -> None:
    proc = db.cli("db", "seed", "--generate", "300", "--period", "2026-10", "--seed", "3")
    assert proc.returncode == 0, proc.stderr
    assert "imported 300 synthetic subscribers" in proc.stderr
    assert ["subscribers", "300", "0", "0", "-"] in [line.split() for line in proc.stderr.splitlines()]
    assert counts()[1] == 300


def test_generate_needs_a_valid_period(db: Env) -> None:
    result = db.invoke("db", "seed", "--generate", "5", "--period", "2026-1")
    assert result.exit_code == 2 and "not a period (YYYY-MM): '2026-1'" in result.stderr
    assert counts() == (0, 0, 0)
