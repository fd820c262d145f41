"""Periods billed on purpose: `run` refuses a month that has not ended, or one more than
24 months back, unless confirmed with --force-period (the dry run says the same); the
nightly run's month is never refused; a run lists the late charges it picked up.

Periods are computed from today's date, so these tests never go stale.
"""

from __future__ import annotations

import json
from datetime import date, timedelta

import pytest

from invoicing.billing.period import MAX_MONTHS_BACK, Period
from invoicing.models import BillingRun, Invoice
from tests.support.envs import Env
from tests.support.factories import FIXTURES, LATE_CHARGES, generate, initialized, seed_fixtures
from tests.support.runs import count_rows, run_json, status_of

PREVIOUS = Period.previous()
CURRENT = PREVIOUS.next()


def months_back(count: int) -> Period:
    period = CURRENT
    for _ in range(count):
        period = Period.previous(period.start)
    return period


def months_ahead(count: int) -> Period:
    period = CURRENT
    for _ in range(count):
        period = period.next()
    return period


REFUSED = {
    "the current month": (CURRENT, "has not ended yet (the current month"),
    "a future month": (months_ahead(12), "has not ended yet (a future month"),
    "25 months back": (months_back(MAX_MONTHS_BACK + 1), f"more than {MAX_MONTHS_BACK} months back"),
}


@pytest.mark.parametrize("case", REFUSED, ids=list(REFUSED))
def test_a_period_not_meant_is_refused_and_nothing_is_issued(env: Env, case: str) -> None:
    period, why = REFUSED[case]
    generate(env, 3, period=str(period))
    # when it is run without confirmation
    proc = env.cli("run", "--period", str(period))
    # then one line says why and how to confirm, exit 2, and no run exists
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and why in lines[0], proc.stderr
    assert f"invoicing run --period {period} --force-period" in lines[0]
    assert count_rows(BillingRun) == 0 and count_rows(Invoice) == 0


@pytest.mark.parametrize("case", REFUSED, ids=list(REFUSED))
def test_the_dry_run_states_the_same_refusal(env: Env, case: str) -> None:
    period, _ = REFUSED[case]
    generate(env, 3, period=str(period))
    # when the same period is run and dry-run
    run = env.cli("run", "--period", str(period))
    dry = env.cli("run", "--period", str(period), "--dry-run", "--json")
    # then the dry run refuses it with the same line and exit code
    assert (dry.returncode, dry.stderr) == (run.returncode, run.stderr) and dry.returncode == 2


def test_force_period_bills_the_current_month(env: Env) -> None:
    generate(env, 3, period=str(CURRENT))
    # when the unfinished month is confirmed
    summary = run_json(env, "--period", str(CURRENT), "--force-period")
    # then it is billed
    assert (summary["period"], summary["status"], summary["invoices"]) == (str(CURRENT), "completed", 3)


@pytest.mark.parametrize("back", [1, MAX_MONTHS_BACK], ids=["the previous month", "24 months back"])
def test_a_month_that_has_ended_within_24_months_needs_no_confirmation(env: Env, back: int) -> None:
    period = months_back(back)
    generate(env, 2, period=str(period))
    # when it is run
    summary = run_json(env, "--period", str(period))
    # then it is billed
    assert (summary["period"], summary["invoices"]) == (str(period), 2)


def test_run_without_a_period_bills_the_month_that_just_ended(env: Env) -> None:
    generate(env, 2, period=str(PREVIOUS))
    # when run as the nightly entry runs it: no period given
    summary = run_json(env)
    # then the previous month is billed, unconfirmed
    assert (summary["period"], summary["invoices"]) == (str(PREVIOUS), 2)


def test_the_nightly_month_is_never_refused_on_any_day() -> None:
    # given every day from 2000-02-01 to the end of 2099 (the nightly beat entry bills
    # Period.previous() of its day)
    day, refused = date(2000, 2, 1), []
    while day < date(2100, 1, 1):
        # when the month before it is checked
        if Period.previous(day).billing_refusal(day) is not None:
            refused.append(day)
        day += timedelta(days=1)
    # then no day's month needs confirming
    assert refused == []


def test_the_quick_start_october_run_picks_up_no_late_charges(env: Env) -> None:
    seed_fixtures(env)
    # when the quick start's October run is made
    summary = run_json(env, "--period", "2026-10")
    # then it billed no charge of an earlier period
    assert status_of(env, summary["run_id"])["late_charges"] == []


def test_the_run_lists_the_late_charges_it_picked_up(env: Env) -> None:
    # given the October run, then charges for October that arrive after it
    initialized(env)
    env.cli("import", str(FIXTURES), check=True)
    env.cli("run", "--period", "2026-10", check=True)
    env.cli("import", str(LATE_CHARGES), check=True)
    # when November is run
    proc = env.cli("run", "--period", "2026-11")
    # then its own output lists each of them, with its account, month, amount and invoice
    assert proc.returncode == 0, proc.stderr
    late = [line.split(None, 1)[1] for line in proc.stdout.splitlines() if line.startswith("late ")]
    assert late == [
        "A-0001: Roaming data Austria (reported late by the partner network) (2026-10) 6.00 EUR "
        "on INV-2026-11-000001",
        "A-0002: International calls to United Kingdom (reported late) (2026-10) 1.89 EUR "
        "on INV-2026-11-000002",
        "A-0009: Мобильный интернет в роуминге, Грузия (2026-10) 225.00 RUB on INV-2026-11-000009",
        "A-0013: 国際通話（韓国） (2026-10) 405 JPY on INV-2026-11-000012",
    ], proc.stdout


def test_status_json_lists_the_late_charges(env: Env) -> None:
    initialized(env)
    env.cli("import", str(FIXTURES), check=True)
    env.cli("run", "--period", "2026-10", check=True)
    env.cli("import", str(LATE_CHARGES), check=True)
    november = run_json(env, "--period", "2026-11")
    # when its status is asked for as JSON
    status = json.loads(env.cli("status", str(november["run_id"]), "--json").stdout)
    # then each late charge is there, its amount a decimal string
    expected = {
        "account": "A-0009",
        "description": "Мобильный интернет в роуминге, Грузия",
        "period": "2026-10",
        "amount": "225.00",
        "currency": "RUB",
        "invoice": "INV-2026-11-000009",
    }
    assert len(status["late_charges"]) == 4 and status["late_charges"][2] == expected
