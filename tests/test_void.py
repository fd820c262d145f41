"""`invoicing void RUN_ID`: a period's latest run, billed by mistake, is cancelled while
none of its invoices has left the system. Its invoices stay, void with the reason (their
numbers used, nothing renumbered), its files stay on disk, and the next run bills the
period with new numbers. Once an invoice has been exported or merged, or has a credit
note, the run is refused: credit notes correct it."""

from __future__ import annotations

import json
from pathlib import Path

from alembic import command
from sqlalchemy import select

from invoicing.db import _alembic_config, init_db, session_scope
from invoicing.files import file_sha256
from invoicing.models import Charge, Invoice
from tests.support.envs import Env
from tests.support.factories import seed_fixtures
from tests.support.runs import invoices_of, run_json, status_of

PERIOD = "2026-10"
NEWCOMER = {
    "account": "Z-0001",
    "name": "Nora Spät",
    "email": "nora@example.org",
    "address": ["Am Ende 1", "10115 Berlin"],
    "country": "DE",
    "locale": "de_DE",
    "currency": "EUR",
    "tax_rate": "19",
    "plan": "basic-eur",
    "active_from": "2026-10-20",
}


def billed(env: Env) -> dict:
    seed_fixtures(env)
    return run_json(env, "--period", PERIOD)


def void(env: Env, run_id: int, *args: str):
    return env.cli("void", str(run_id), *args)


def assert_refused(proc, *needles: str) -> None:
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in proc.stderr, proc.stderr
    for needle in needles:
        assert needle in lines[0], proc.stderr


def test_voided_invoices_stay_void_with_the_reason_and_their_numbers(env: Env) -> None:
    first = billed(env)
    # when the run is voided
    proc = void(env, first["run_id"], "--reason", "billed before the usage was complete")
    # then every invoice is kept, numbered as issued, void with the reason
    assert proc.returncode == 0, proc.stderr
    invoices = invoices_of(first["run_id"])
    assert [i.number for i in invoices] == [f"INV-2026-10-{n:06d}" for n in range(1, 20)]
    assert {(i.void_reason, i.voided_at is not None) for i in invoices} == {
        ("billed before the usage was complete", True)
    }


def test_a_new_run_bills_the_voided_subscribers_with_new_numbers(env: Env) -> None:
    first = billed(env)
    void(env, first["run_id"], "--reason", "wrong usage file")
    # when the period is run again
    second = run_json(env, "--period", PERIOD)
    # then the same subscribers are billed on in the series: 20 to 38, none reused
    invoices = invoices_of(second["run_id"])
    assert second["run_id"] != first["run_id"] and second["status"] == "completed"
    assert [i.number for i in invoices] == [f"INV-2026-10-{n:06d}" for n in range(20, 39)]
    assert {i.subscriber_id for i in invoices} == {i.subscriber_id for i in invoices_of(first["run_id"])}


def test_the_voided_invoices_charges_are_billed_again(env: Env) -> None:
    first = billed(env)
    void(env, first["run_id"])
    second = run_json(env, "--period", PERIOD)
    # then every charge names an invoice of the new run (none is left unbilled, none
    # still names a void invoice)
    with session_scope() as session:
        billers = set(session.scalars(select(Charge.invoice_id)))
    assert billers <= {i.id for i in invoices_of(second["run_id"])}


def test_status_shows_the_run_void_with_its_reason(env: Env) -> None:
    first = billed(env)
    void(env, first["run_id"], "--reason", "typo in the period")
    # when its status is asked for
    text = env.cli("status", str(first["run_id"]))
    data = status_of(env, first["run_id"])
    # then it is void, with why
    assert (data["status"], data["void_reason"]) == ("void", "typo in the period")
    assert text.returncode == 0 and f"{first['run_id']} for {PERIOD}: void: typo in the period" in text.stdout


def test_the_void_runs_files_stay_on_disk_unchanged(env: Env) -> None:
    first = billed(env)
    before = {i.pdf_path: i.sha256 for i in invoices_of(first["run_id"])}
    void(env, first["run_id"])
    # then the merged file and every invoice's file are where they were, byte for byte
    assert file_sha256(Path(first["output"]))[0] == first["sha256"]
    assert {path: file_sha256(Path(path))[0] for path in before} == before


def test_void_json(env: Env) -> None:
    first = billed(env)
    # when voided with --json
    proc = void(env, first["run_id"], "--json")
    # then one object says what was voided
    assert json.loads(proc.stdout) == {
        "run_id": first["run_id"],
        "period": PERIOD,
        "status": "void",
        "invoices": 19,
        "reason": "no reason given",
    }


def test_an_exported_run_is_refused_with_credit_notes_as_the_way(env: Env) -> None:
    first = billed(env)
    env.cli("export", str(first["run_id"]), "-o", "run.zip", check=True)
    # when it is voided
    proc = void(env, first["run_id"])
    # then it is refused, saying to issue credit notes, and the run is unchanged
    assert_refused(proc, "has left the system (export)", "invoicing credit")
    assert status_of(env, first["run_id"])["status"] == "completed"


def test_a_run_with_an_invoice_merged_for_print_is_refused(env: Env) -> None:
    first = billed(env)
    env.cli("merge", "--accounts", "A-0003", "--period", PERIOD, "-o", "print.pdf", check=True)
    # when it is voided
    proc = void(env, first["run_id"])
    # then it is refused
    assert_refused(proc, "INV-2026-10-000003 has left the system (merge)", "invoicing credit")


def test_a_run_with_an_issued_invoice_fetched_by_render_is_refused(env: Env) -> None:
    first = billed(env)
    env.cli("render", "--account", "A-0004", "--period", PERIOD, "-o", "copy.pdf", check=True)
    # when it is voided
    proc = void(env, first["run_id"])
    # then it is refused
    assert_refused(proc, "INV-2026-10-000004 has left the system (render)", "invoicing credit")


def test_a_run_with_a_credit_note_is_refused(env: Env) -> None:
    first = billed(env)
    env.cli("credit", "INV-2026-10-000002", "--amount", "1.00", check=True)
    # when its run is voided
    proc = void(env, first["run_id"])
    # then it is refused
    assert_refused(proc, "INV-2026-10-000002 has a credit note", "invoicing credit")


def test_only_the_periods_latest_run_is_voided(env: Env) -> None:
    first = billed(env)
    (env.path / "new.json").write_text(json.dumps({"subscribers": [NEWCOMER]}), encoding="utf-8")
    env.cli("import", "new.json", check=True)
    supplement = run_json(env, "--period", PERIOD)
    # when the first run is voided while a supplement follows it
    proc = void(env, first["run_id"])
    # then it is refused, naming the run to void first
    assert_refused(proc, f"void run {supplement['run_id']} first")


def test_a_void_invoice_is_not_credited(env: Env) -> None:
    first = billed(env)
    void(env, first["run_id"], "--reason", "duplicate")
    # when one of its invoices is credited
    proc = env.cli("credit", "INV-2026-10-000001")
    # then it is refused: a void invoice bills nothing
    assert_refused(proc, "INV-2026-10-000001 is void (duplicate)")


def test_a_void_run_is_not_retried_or_voided_again(env: Env) -> None:
    first = billed(env)
    void(env, first["run_id"])
    # when it is retried, then voided again
    retried = env.cli("retry", str(first["run_id"]))
    again = void(env, first["run_id"])
    # then both are refused
    assert_refused(retried, "is void")
    assert_refused(again, "is void already")


def test_a_run_issued_before_leaving_was_recorded_is_refused(env: Env) -> None:
    # given a run issued at the revision before void existed, then the schema upgraded
    first = billed(env)
    url = env.vars["INVOICING_DATABASE_URL"]
    command.downgrade(_alembic_config(url), "0005")
    init_db(url)
    # when it is voided
    proc = void(env, first["run_id"])
    # then it is refused: whether its invoices were exported was never recorded
    assert_refused(proc, "INV-2026-10-000001 may have left the system", "invoicing credit")


def test_an_unknown_run_is_refused(env: Env) -> None:
    seed_fixtures(env)
    # when a run that does not exist is voided
    proc = void(env, 7)
    # then it says so
    assert_refused(proc, "no billing run 7")


def test_the_period_series_stays_gapless_across_a_void(env: Env) -> None:
    first = billed(env)
    void(env, first["run_id"])
    run_json(env, "--period", PERIOD)
    # then the period's invoice numbers, void ones included, are 1..38 with no gap
    with session_scope() as session:
        seqs = sorted(session.scalars(select(Invoice.seq).where(Invoice.period == PERIOD)))
    assert seqs == list(range(1, 39))
