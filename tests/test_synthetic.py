"""invoicing.synthetic and fixtures/invoicing.json both satisfy the import format.

The checks mirror the importer's rules (fixtures/README.md) so that bad data is caught
here, next to the data, and not first in an import.
"""

from __future__ import annotations

import calendar
import json
import re
import unicodedata
from collections import Counter
from datetime import date
from decimal import Decimal

import pytest
from babel import Locale
from babel.numbers import is_currency

from invoicing.errors import BillingError
from invoicing.synthetic import synthetic_chunks, synthetic_dataset
from tests.support.factories import FIXTURES, SUBSCRIBER_FIELDS

PLAIN_DECIMAL = re.compile(r"-?\d+(\.\d+)?")
ACCOUNT = re.compile(r"[A-Za-z0-9._-]{1,64}")
COUNTRY = re.compile(r"[A-Z]{2}")
PERIOD = re.compile(r"\d{4}-(0[1-9]|1[0-2])")
SCRIPTS = ("LATIN", "CYRILLIC", "GREEK", "CJK", "HIRAGANA", "KATAKANA", "HANGUL")


def check_decimal(value, *, places: int, int_digits: int = 12) -> Decimal:
    assert isinstance(value, str), f"{value!r} is not a string"
    assert PLAIN_DECIMAL.fullmatch(value), f"{value!r} is not a plain decimal"
    number = Decimal(value)
    assert number.is_finite()
    exponent = number.as_tuple().exponent
    assert -exponent <= places, f"{value!r} has more than {places} decimals"
    assert len(str(abs(int(number)))) <= int_digits, f"{value!r} has too many integer digits"
    return number


def walk_no_float(node, path="$"):
    assert not isinstance(node, float), f"float at {path}"
    if isinstance(node, dict):
        for key, child in node.items():
            assert isinstance(key, str)
            walk_no_float(child, f"{path}.{key}")
    elif isinstance(node, list):
        for i, child in enumerate(node):
            walk_no_float(child, f"{path}[{i}]")
    else:
        assert node is None or isinstance(node, str), f"{type(node).__name__} at {path}"


def scripts_of(text: str) -> set[str]:
    found = set()
    for ch in text:
        name = unicodedata.name(ch, "")
        found.update(script for script in SCRIPTS if script in name)
    return found


def billable(sub: dict, period: str) -> bool:
    year, month = map(int, period.split("-"))
    first = date(year, month, 1)
    last = date(year, month, calendar.monthrange(year, month)[1])
    start = date.fromisoformat(sub["active_from"])
    end = None if sub["active_to"] is None else date.fromisoformat(sub["active_to"])
    return start <= last and (end is None or end >= first)


_known_currencies: set[str] = set()
_known_locales: set[str] = set()


def check_currency(code: str) -> None:
    if code not in _known_currencies:
        assert re.fullmatch(r"[A-Z]{3}", code)
        assert is_currency(code), f"unknown currency {code}"
        _known_currencies.add(code)


def check_locale(tag: str) -> None:
    if tag not in _known_locales:
        assert re.fullmatch(r"[a-z]{2,3}_[A-Z]{2}", tag), tag
        Locale.parse(tag)
        _known_locales.add(tag)


def check_dataset(data: dict) -> None:
    """Every rule of the import format; raises AssertionError on the first breach."""
    assert set(data) == {"plans", "subscribers", "charges"}
    walk_no_float(data)

    plans = {}
    for plan in data["plans"]:
        assert set(plan) == {"code", "name", "monthly_fee", "currency"}
        assert plan["code"] and plan["code"] not in plans, f"duplicate plan {plan['code']}"
        assert plan["name"]
        assert check_decimal(plan["monthly_fee"], places=6) >= 0
        check_currency(plan["currency"])
        plans[plan["code"]] = plan

    subs = {}
    for sub in data["subscribers"]:
        assert set(sub) == set(SUBSCRIBER_FIELDS)
        account = sub["account"]
        assert ACCOUNT.fullmatch(account), account
        assert account not in subs, f"duplicate account {account}"
        assert 1 <= len(sub["name"]) <= 200 and sub["name"].strip() == sub["name"]
        assert "@" in sub["email"] and len(sub["email"]) <= 254
        assert isinstance(sub["address"], list) and 1 <= len(sub["address"]) <= 6
        assert all(isinstance(line, str) and 1 <= len(line) <= 200 for line in sub["address"])
        assert COUNTRY.fullmatch(sub["country"])
        check_locale(sub["locale"])
        check_currency(sub["currency"])
        assert 0 <= check_decimal(sub["tax_rate"], places=3, int_digits=3) <= 100
        assert sub["plan"] in plans, f"{account}: unknown plan {sub['plan']}"
        assert plans[sub["plan"]]["currency"] == sub["currency"], f"{account}: plan currency"
        start = date.fromisoformat(sub["active_from"])
        assert len(sub["active_from"]) == 10
        if sub["active_to"] is not None:
            assert len(sub["active_to"]) == 10
            assert date.fromisoformat(sub["active_to"]) >= start, account
        subs[account] = sub

    for charge in data["charges"]:
        assert set(charge) == {"account", "period", "description", "quantity", "unit_price"}
        assert charge["account"] in subs, f"charge for unknown account {charge['account']}"
        assert PERIOD.fullmatch(charge["period"])
        assert 1 <= len(charge["description"]) <= 200
        assert check_decimal(charge["quantity"], places=4) > 0
        assert check_decimal(charge["unit_price"], places=6) >= 0
        # Usage only when the subscriber is billable in that period.
        assert billable(subs[charge["account"]], charge["period"]), charge


def loads_strict(text: str) -> dict:
    def refuse(token):
        raise AssertionError(f"JSON number {token} (amounts must be strings)")

    return json.loads(text, parse_float=refuse, parse_int=refuse, parse_constant=refuse)


# ------------------------------------------------------------------------- synthetic


@pytest.fixture(scope="module")
def thousand() -> dict:
    return synthetic_dataset(1000, "2026-10", seed=7)


def test_valid_import_data(thousand):
    check_dataset(thousand)
    # survives a JSON round trip with no JSON numbers in it
    assert loads_strict(json.dumps(thousand, ensure_ascii=False)) == thousand


def test_deterministic_per_seed():
    a = synthetic_dataset(300, "2026-10", seed=3)
    assert a == synthetic_dataset(300, "2026-10", seed=3)
    assert a != synthetic_dataset(300, "2026-10", seed=4)
    assert a["subscribers"] != synthetic_dataset(300, "2026-09", seed=3)["subscribers"]


def test_chunks_are_the_data_set_cut_in_account_order(thousand):
    # given the thousand in chunks of 300
    chunks = list(synthetic_chunks(1000, "2026-10", seed=7, size=300))
    # then four valid data sets, together the same subscribers and charges, plans in each
    assert [len(c["subscribers"]) for c in chunks] == [300, 300, 300, 100]
    for chunk in chunks:
        check_dataset(chunk)
        assert chunk["plans"] == thousand["plans"]
    assert [s for c in chunks for s in c["subscribers"]] == thousand["subscribers"]
    assert [x for c in chunks for x in c["charges"]] == thousand["charges"]
    with pytest.raises(ValueError, match="size must be positive"):
        next(synthetic_chunks(10, "2026-10", size=0))


def test_count_and_accounts(thousand):
    subs = thousand["subscribers"]
    assert len(subs) == 1000
    assert [s["account"] for s in subs] == [f"S-{n:06d}" for n in range(1, 1001)]
    assert synthetic_dataset(0, "2026-10")["subscribers"] == []
    assert synthetic_dataset(0, "2026-10")["charges"] == []


def test_plans_cover_every_currency(thousand):
    plan_currencies = {p["currency"] for p in thousand["plans"]}
    assert {s["currency"] for s in thousand["subscribers"]} <= plan_currencies
    assert len(plan_currencies) >= 8
    per_currency = Counter(p["currency"] for p in thousand["plans"])
    assert min(per_currency.values()) >= 2
    for plan in thousand["plans"]:
        if plan["currency"] in ("JPY", "KRW"):
            assert "." not in plan["monthly_fee"]


def test_charges_in_period_and_billable(thousand):
    accounts = {s["account"] for s in thousand["subscribers"]}
    charges = thousand["charges"]
    assert charges
    assert {c["period"] for c in charges} == {"2026-10"}
    assert {c["account"] for c in charges} <= accounts
    per_account = Counter(c["account"] for c in charges)
    assert max(per_account.values()) <= 4
    assert len(per_account) < len(accounts)  # some subscribers have no usage
    assert all(billable(s, "2026-10") for s in thousand["subscribers"])
    starts_inside = [s for s in thousand["subscribers"] if s["active_from"] >= "2026-10-01"]
    assert starts_inside and len(starts_inside) < 200


def test_several_scripts(thousand):
    counts = Counter()
    for sub in thousand["subscribers"]:
        counts.update(scripts_of(sub["name"]))
    assert counts["LATIN"] > counts["CYRILLIC"] > 0
    assert counts["GREEK"] > 0
    cjk = sum(
        1
        for s in thousand["subscribers"]
        if scripts_of(s["name"]) & {"CJK", "HIRAGANA", "KATAKANA", "HANGUL"}
    )
    assert 30 <= cjk <= 200  # about 10 %
    assert counts["HANGUL"] > 0


def test_locale_country_currency_consistent(thousand):
    seen = {(s["country"], s["locale"], s["currency"]) for s in thousand["subscribers"]}
    for country, locale, _ in seen:
        assert locale.endswith("_" + country)
    assert len({c for c, _, _ in seen}) == len(seen)  # one locale/currency per country
    taxes = {(s["country"], s["tax_rate"]) for s in thousand["subscribers"] if s["country"] != "US"}
    assert len(taxes) == len({c for c, _ in taxes})


@pytest.mark.parametrize("period", ["2026-13", "2026-00", "2026-1", "26-10", "1899-12", "", None])
def test_bad_period(period):
    with pytest.raises(BillingError, match=r"not a period \(YYYY-MM\)"):
        synthetic_dataset(1, period)


def test_period_like_billing():
    # invoicing.billing.parse_period strips blanks; the charges carry the clean period.
    data = synthetic_dataset(50, " 2026-10 ", seed=2)
    assert {c["period"] for c in data["charges"]} == {"2026-10"}
    assert data == synthetic_dataset(50, "2026-10", seed=2)


def test_february_leap_year():
    data = synthetic_dataset(400, "2028-02", seed=1)
    check_dataset(data)
    assert all(billable(s, "2028-02") for s in data["subscribers"])


# --------------------------------------------------------------------------- fixture


@pytest.fixture(scope="module")
def fixture_data() -> dict:
    return loads_strict(FIXTURES.read_text(encoding="utf-8"))


def test_fixture_valid(fixture_data):
    check_dataset(fixture_data)
    text = FIXTURES.read_text(encoding="utf-8")
    assert "\\u" not in text  # stored as UTF-8, not escaped


def test_fixture_contents(fixture_data):
    subs = {s["account"]: s for s in fixture_data["subscribers"]}
    charges = fixture_data["charges"]
    assert 15 <= len(subs) <= 30
    # October's usage only: the quick start's October run picks up no charge of an earlier
    # period (fixtures/late-charges.json shows late charges, on purpose)
    assert {c["period"] for c in charges} == {"2026-10"}

    scripts = set()
    for sub in subs.values():
        scripts |= scripts_of(sub["name"])
    assert len(scripts & {"LATIN", "CYRILLIC", "GREEK", "CJK", "HANGUL"}) >= 3
    assert {"LATIN", "CYRILLIC", "GREEK", "CJK", "HANGUL"} <= scripts
    assert any("&" in s["name"] for s in subs.values())
    assert len({s["currency"] for s in subs.values()}) >= 5

    october = {c["account"] for c in charges if c["period"] == "2026-10"}
    assert [a for a, s in subs.items() if billable(s, "2026-10") and a not in october]
    assert [s for s in subs.values() if billable(s, "2026-09") and not billable(s, "2026-10")]
    assert [s for s in subs.values() if s["active_from"] == "2026-10-15"]
    assert max(len(c["description"]) for c in charges) >= 140
    for account in subs:
        for period in ("2026-09", "2026-10"):
            lines = [c for c in charges if c["account"] == account and c["period"] == period]
            assert len(lines) <= 5


def test_the_package_runs_as_a_module(tmp_path) -> None:
    """`python -m invoicing.synthetic`, as fixtures/README.md documents it, writes the
    same data set the function returns."""
    import subprocess
    import sys

    # when
    proc = subprocess.run(
        [sys.executable, "-m", "invoicing.synthetic", "20", "2026-10", "--seed", "5", "-o", "out.json"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    # then
    assert proc.returncode == 0, proc.stderr
    written = json.loads((tmp_path / "out.json").read_text(encoding="utf-8"))
    assert written == synthetic_dataset(20, "2026-10", seed=5)
