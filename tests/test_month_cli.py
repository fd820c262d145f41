"""Billing month after month from the outside: the real `invoicing` command, as a
billing team uses it across months."""

from __future__ import annotations

import hashlib
import json
import sqlite3
import subprocess
from pathlib import Path

from pypdf import PdfReader

from invoicing.models import BillingRun, Charge, Invoice
from tests.support.envs import Env
from tests.support.factories import FIXTURES, initialized, seed_fixtures, write_json
from tests.support.paths import BIN, ROOT
from tests.support.runs import count_rows, run_at_once, run_json
from tests.support.workers import Workers

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


def text_of(path: str | Path) -> str:
    return " ".join(" ".join(page.extract_text().split()) for page in PdfReader(path).pages)


def readme_setup_command() -> str:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    return next(
        line for line in text.splitlines() if line.startswith("python3 -m venv .venv && ") and "run" in line
    )


def test_the_readme_set_up_runs_twice_and_bills_nobody_twice(env: Env) -> None:
    # given the README's one-liner, minus the venv it makes (this test has one)
    steps = readme_setup_command().split(" && ")[2:]
    assert steps[0].startswith(".venv/bin/invoicing db init"), steps
    for attempt in (1, 2):
        # when it is run, and run again
        for step in steps:
            argv = step.split()
            proc = subprocess.run(
                [str(BIN / "invoicing"), *argv[1:]],
                cwd=ROOT,
                env=env.environ(),
                capture_output=True,
                text=True,
                timeout=240,
            )
            # then every step succeeds both times
            assert proc.returncode == 0, f"attempt {attempt}: {step}\n{proc.stderr}"
    assert "already complete; nothing to do" in proc.stderr
    assert count_rows(BillingRun) == 1 and count_rows(Invoice) == 19


def test_a_late_charge_is_billed_on_the_next_invoice(env: Env) -> None:
    seed_fixtures(env)
    october = run_json(env, "--period", "2026-10")
    # when a charge for October arrives after October was billed
    late = write_json(
        env,
        name="late.json",
        data={
            "charges": [
                {
                    "id": "feed-77",
                    "account": "A-0001",
                    "period": "2026-10",
                    "description": "Roaming 3 GB",
                    "quantity": "1",
                    "unit_price": "4.20",
                }
            ]
        },
    )
    proc = env.cli("import", late, "--json")
    # then the import says where it goes, and status shows it waiting
    assert proc.returncode == 0, proc.stderr
    summary = json.loads(proc.stdout)
    assert summary["charges"] == {"created": 1, "updated": 0, "unchanged": 0, "deferred": 1}
    assert summary["deferred"] == [{"account": "A-0001", "charges": 1, "next_invoice": "2026-11"}]
    status = json.loads(env.cli("status", str(october["run_id"]), "--json").stdout)
    assert (status["charges_waiting"], status["charges_unbillable"]) == (1, 0)
    # when November is billed
    november = run_json(env, "--period", "2026-11")
    # then November's invoice of A-0001 carries it, naming October in German, and nothing else does
    first = Path(november["output"]).parent / "INV-2026-11-000001.pdf"
    assert "Roaming 3 GB (Okt. 2026)" in text_of(first)
    assert "Roaming 3 GB" not in text_of(october["output"])
    assert json.loads(env.cli("status", "--json").stdout)["charges_waiting"] == 0
    # and importing the same charge again is a no-op
    again = json.loads(env.cli("import", late, "--json").stdout)
    assert again["charges"]["unchanged"] == 1 and again["charges"]["created"] == 0


def test_a_late_subscriber_is_billed_in_a_supplement(env: Env) -> None:
    seed_fixtures(env)
    october = run_json(env, "--period", "2026-10")
    env.cli("import", write_json(env, name="new.json", data={"subscribers": [NEWCOMER]}), check=True)
    # when the merge asks for the newcomer's October invoice
    early = env.cli("merge", "--accounts", "Z-0001", "--period", "2026-10", "-o", "z.pdf")
    # then it says what will issue it
    assert (
        early.returncode == 2
        and "`invoicing run --period 2026-10` issues them in a supplement" in early.stderr
    )
    # when the period is run again
    supplement = run_json(env, "--period", "2026-10")
    # then a supplement issues the next number of October's series, beside the first file
    assert supplement["run_id"] != october["run_id"] and supplement["invoices"] == 1
    assert Path(supplement["output"]).name == f"billing-run-{supplement['run_id']}-supplement.pdf"
    assert Path(supplement["output"]).parent == Path(october["output"]).parent
    assert "INV-2026-10-000020" in text_of(supplement["output"]) and "Nora Spät" in text_of(
        supplement["output"]
    )
    status = json.loads(env.cli("status", str(supplement["run_id"]), "--json").stdout)
    assert status["kind"] == "supplement"
    assert [(r["run_id"], r["kind"]) for r in status["period_runs"]] == [
        (october["run_id"], "billing"),
        (supplement["run_id"], "supplement"),
    ]
    # and the merge now finds it; a third run has nothing left to do
    assert env.cli("merge", "--accounts", "Z-0001", "--period", "2026-10", "-o", "z.pdf").returncode == 0
    assert run_json(env, "--period", "2026-10")["run_id"] == supplement["run_id"]
    assert count_rows(BillingRun) == 2


def test_an_edited_subscriber_leaves_issued_invoices_byte_identical(env: Env) -> None:
    seed_fixtures(env)
    october = run_json(env, "--period", "2026-10")
    issued = Path(october["output"]).parent / "INV-2026-10-000001.pdf"
    before = issued.read_bytes()
    # when the subscriber is renamed and moves
    data = json.loads(FIXTURES.read_text(encoding="utf-8"))
    moved = dict(data["subscribers"][0], name="Jürgen Neumann", address=["Neue Str. 9", "20095 Hamburg"])
    summary = json.loads(
        env.cli("import", write_json(env, name="moved.json", data={"subscribers": [moved]}), "--json").stdout
    )
    assert summary["subscribers"]["updated"] == 1
    # then the invoice, fetched again or re-rendered after its file was lost, has the same bytes
    env.cli("render", "--account", "A-0001", "--period", "2026-10", "-o", "again.pdf", check=True)
    assert (env.path / "again.pdf").read_bytes() == before
    issued.unlink()
    env.cli("render", "--account", "A-0001", "--period", "2026-10", "-o", "lost.pdf", check=True)
    assert (env.path / "lost.pdf").read_bytes() == before
    # and the next month's invoice has the new name
    run_json(env, "--period", "2026-11")
    november = Path(october["output"]).parent.parent / "2026-11" / "INV-2026-11-000001.pdf"
    assert "Jürgen Neumann" in text_of(november) and "Jürgen Müller" not in text_of(november)


def test_credit_notes_from_the_outside(env: Env) -> None:
    seed_fixtures(env)
    october = run_json(env, "--period", "2026-10")
    # when part of an invoice is credited
    proc = env.cli("credit", "INV-2026-10-000001", "--amount", "5.00", "--reason", "Roaming outage", "--json")
    # then a credit note is issued, rendered, and named in JSON
    assert proc.returncode == 0, proc.stderr
    note = json.loads(proc.stdout)
    assert set(note) == {"number", "invoice", "amount", "currency", "output", "sha256"}
    assert (note["number"], note["invoice"], note["amount"], note["currency"]) == (
        "CN-2026-10-000001",
        "INV-2026-10-000001",
        "5.00",
        "EUR",
    )
    assert hashlib.sha256(Path(note["output"]).read_bytes()).hexdigest() == note["sha256"]
    text = text_of(note["output"])
    # A-0001 is a de_DE subscriber: a German credit note
    assert "GUTSCHRIFT" in text and "INV-2026-10-000001" in text and "Roaming outage" in text
    # and status shows the invoice partly credited
    status = json.loads(env.cli("status", str(october["run_id"]), "--json").stdout)
    assert [c["state"] for c in status["credited"]] == ["partly credited"]
    # when the rest is credited, then the invoice is credited in full
    assert env.cli("credit", "INV-2026-10-000001", "--json").returncode == 0
    status = json.loads(env.cli("status", str(october["run_id"]), "--json").stdout)
    assert [c["state"] for c in status["credited"]] == ["credited"]
    # bad requests: exit 2 with the reason, nothing written (in this process: the same
    # command and handler, without seven interpreter starts)
    runs_before = count_rows(BillingRun)
    for args, message in [
        (["INV-2026-10-000001", "--amount", "1"], "fully credited already"),
        (["INV-2026-10-000002", "--amount", "9999"], "exceeds what is left to credit"),
        (["INV-2026-10-000002", "--amount", "0"], "must be more than 0"),
        (["INV-2026-10-000002", "--amount", "1.234"], "more decimals than EUR has (2)"),
        (["INV-2026-10-000002", "--amount", "lots"], "not an amount: 'lots'"),
        (["CN-2026-10-000001"], "is a credit note; credit the invoice it corrects (INV-2026-10-000001)"),
        (["INV-1999-01-000001"], "no invoice 'INV-1999-01-000001'"),
    ]:
        bad = env.invoke("credit", *args)
        assert bad.exit_code == 2, (args, bad.output)
        assert message in bad.stderr and "Traceback" not in bad.output, bad.stderr
    assert count_rows(BillingRun) == runs_before


def dump(database: Path) -> list[str]:
    with sqlite3.connect(database) as connection:
        return list(connection.iterdump())


def test_dry_run_writes_nothing(env: Env) -> None:
    seed_fixtures(env)
    run_json(env, "--period", "2026-10")
    env.cli("import", write_json(env, name="new.json", data={"subscribers": [NEWCOMER]}), check=True)
    before = dump(env.path / "invoicing.db")
    files = sorted(p.relative_to(env.path) for p in (env.path / "output").rglob("*"))
    # when a dry run is asked for October (a supplement) and November (the billing run)
    october = json.loads(env.cli("run", "--period", "2026-10", "--dry-run", "--json").stdout)
    november = env.cli("run", "--period", "2026-11", "--dry-run")
    # then it says what would be issued
    assert (october["kind"], october["invoices"], october["first_number"]) == (
        "supplement",
        1,
        "INV-2026-10-000020",
    )
    assert october["skipped"]["already invoiced for the period"] == 19
    assert november.returncode == 0 and "would issue the billing run" in november.stdout
    assert "invoices  20 (INV-2026-11-000001 .. INV-2026-11-000020)" in november.stdout
    assert "EUR       subtotal" in november.stdout and "ended before the period" in november.stdout
    # and nothing was written
    assert dump(env.path / "invoicing.db") == before
    assert sorted(p.relative_to(env.path) for p in (env.path / "output").rglob("*")) == files


def test_two_supplements_started_at_once_make_one(pg_env: Env, workers: Workers) -> None:
    env = workers.env
    initialized(env)
    env.cli("db", "seed", "--generate", "40", "--period", "2026-10", check=True)
    workers.start(count=1, concurrency=2)
    run_json(env, "--period", "2026-10")
    late = [dict(NEWCOMER, account=f"Z-{n:04d}", plan="basic-eur") for n in range(1, 6)]
    env.cli("import", write_json(env, name="late.json", data={"subscribers": late}), check=True)
    # when two `invoicing run` commands start at the same instant
    summaries = run_at_once(env, "--period", "2026-10")
    # then both follow one supplement, and each newcomer has exactly one invoice
    assert summaries[0]["run_id"] == summaries[1]["run_id"]
    assert count_rows(BillingRun) == 2 and count_rows(Invoice) == 45
    assert summaries[0]["invoices"] == 5


def test_a_csv_with_a_wrong_header_is_refused_from_the_outside(env: Env) -> None:
    # given a database, and a charges CSV with a column nobody knows
    seed_fixtures(env)
    bad = env.path / "usage.csv"
    bad.write_text("account,period,description,quantity,unit_price,colour\nA-0001,2026-10,x,1,1,red\n")
    charges = count_rows(Charge)
    # when it is imported
    proc = env.cli("import", str(bad))
    # then the file and the column are named, exit 2, nothing imported
    assert proc.returncode == 2, proc.stderr
    assert "usage.csv: unknown column for charges: colour" in proc.stderr
    assert "nothing was imported" in proc.stderr and "Traceback" not in proc.stderr
    assert count_rows(Charge) == charges
