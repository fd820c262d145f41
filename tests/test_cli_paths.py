"""The paths a user takes through the commands that no other test module walks: each one
through the real `invoicing` command, its exit code and its message checked."""

from __future__ import annotations

import json
from datetime import date, timedelta
from importlib.metadata import version
from pathlib import Path

from pypdf import PdfReader
from sqlalchemy import func, select, update

from invoicing.db import session_scope
from invoicing.models import Invoice, Subscriber
from tests.support.envs import Env
from tests.support.factories import generate, initialized, seed_fixtures
from tests.support.runs import late_charges, run_json, status_of, wait_for_final_status
from tests.support.workers import Workers


def last_month() -> str:
    previous = date.today().replace(day=1) - timedelta(days=1)
    return f"{previous.year}-{previous.month:02d}"


def one_line(stderr: str) -> str:
    assert "Traceback" not in stderr, stderr
    lines = stderr.strip().splitlines()
    assert len(lines) == 1, stderr
    return lines[0]


def break_locale(account: str) -> None:
    """A subscriber whose invoices cannot render (a locale with no translations)."""
    with session_scope() as session:
        session.execute(update(Subscriber).where(Subscriber.account == account).values(locale="zz_ZZ"))


# --- invoicing --version --------------------------------------------------------------


def test_version_prints_the_installed_version(env: Env) -> None:
    proc = env.cli("--version")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == f"invoicing, version {version('invoicing')}"


# --- run ------------------------------------------------------------------------------


def test_run_without_a_period_bills_last_month(env: Env) -> None:
    # given subscribers billable in the month before this one
    period = last_month()
    generate(env, 3, period=period)
    # when the run is started with no --period
    summary = run_json(env)
    # then it billed that month
    assert (summary["period"], summary["status"], summary["invoices"]) == (period, "completed", 3)


def test_run_that_makes_no_progress_gives_up_with_exit_1(workers: Workers) -> None:
    # given a worker that answers on the broker but takes no task, and the shortest stall
    # the settings allow
    env = workers.env
    seed_fixtures(env)
    workers.start()
    workers.stop_consuming()
    # when a run is started and waited for
    proc = env.cli("run", "--period", "2026-10", INVOICING_STALL_AFTER_S="10")
    # then it says so once nothing moved for that long, and points at status and retry
    assert proc.returncode == 1, proc.stderr
    assert proc.stderr.strip().splitlines()[-1] == (
        "invoicing: error: billing run 1 made no progress for 10 s; "
        "see `invoicing status 1`, then `invoicing retry 1`"
    )
    assert "Traceback" not in proc.stderr


# --- runs -----------------------------------------------------------------------------


def test_runs_limit_lists_only_the_newest(env: Env) -> None:
    # given two runs
    seed_fixtures(env)
    october = run_json(env, "--period", "2026-10")
    november = run_json(env, "--period", "2026-11")
    # when only one is asked for
    proc = env.cli("runs", "--limit", "1", "--json")
    # then it is the newest
    assert proc.returncode == 0, proc.stderr
    assert [item["run_id"] for item in json.loads(proc.stdout)] == [november["run_id"]]
    assert november["run_id"] > october["run_id"]


# --- retry ----------------------------------------------------------------------------


def test_retry_no_wait_dispatches_and_returns(workers: Workers) -> None:
    # given a completed run on real workers, one invoice's file since lost
    env = workers.env
    seed_fixtures(env)
    workers.start()
    summary = run_json(env, "--period", "2026-10")
    lost = Path(summary["output"]).parent / "INV-2026-10-000003.pdf"
    issued = lost.read_bytes()
    lost.unlink()
    # when it is retried without waiting
    proc = env.cli("retry", str(summary["run_id"]), "--no-wait")
    # then the command returns once the invoice is dispatched, and the workers finish the run
    assert proc.returncode == 0, proc.stderr
    assert f"billing run {summary['run_id']} for 2026-10: resuming: 1 of 19 invoices to render" in proc.stderr
    assert wait_for_final_status(env, summary["run_id"], timeout=120)["status"] == "completed"
    assert lost.read_bytes() == issued


def test_retry_no_wait_without_a_broker_is_refused(env: Env) -> None:
    seed_fixtures(env)
    run_id = run_json(env, "--period", "2026-10")["run_id"]
    proc = env.cli("retry", str(run_id), "--no-wait", "--json")
    assert proc.returncode == 2
    assert (
        one_line(proc.stderr)
        == "invoicing: error: --no-wait needs a broker: the embedded worker stops when this command exits"
    )


def test_retry_of_a_run_still_rendering_is_refused(workers: Workers) -> None:
    # given a run dispatched to a worker that takes no task yet
    env = workers.env
    seed_fixtures(env)
    workers.start()
    workers.stop_consuming()
    run_id = run_json(env, "--period", "2026-10", "--no-wait")["run_id"]
    # when it is retried
    proc = env.cli("retry", str(run_id))
    # then it is refused: rendering it twice would gain nothing
    assert proc.returncode == 1, proc.stderr
    assert f"billing run {run_id} is still rendering (last progress" in proc.stderr
    assert "wait for it, or retry once it is stalled" in one_line(proc.stderr)
    assert status_of(env, run_id)["status"] == "rendering"


# --- db seed --------------------------------------------------------------------------


def test_db_seed_generates_only_the_countries_asked_for(env: Env) -> None:
    initialized(env)
    # when subscribers of two countries only are generated, with a JSON summary
    proc = env.cli("db", "seed", "--generate", "12", "--period", "2026-10", "--countries", "JP,SA", "--json")
    # then the summary says 12 subscribers were created, and all of them are of those countries
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["subscribers"]["created"] == 12
    with session_scope() as session:
        countries = set(session.scalars(select(Subscriber.country)))
    assert countries == {"JP", "SA"}


def test_db_seed_with_an_unknown_country_is_exit_2(env: Env) -> None:
    initialized(env)
    proc = env.cli("db", "seed", "--generate", "5", "--period", "2026-10", "--countries", "JP,QQ")
    assert proc.returncode == 2
    assert "--countries" in proc.stderr and "QQ" in proc.stderr and "Traceback" not in proc.stderr
    with session_scope() as session:
        assert session.scalar(select(func.count()).select_from(Subscriber)) == 0


# --- demo -----------------------------------------------------------------------------


def test_demo_timeout_gives_up_when_no_worker_takes_the_tasks(workers: Workers) -> None:
    # given a worker that answers on the broker but has stopped consuming the queue
    env = workers.env
    env.cli("db", "init", check=True)  # a worker checks the database it will write to
    workers.start()
    workers.stop_consuming()
    # when the demo waits one second for its result
    proc = env.cli("demo", "--timeout", "1")
    # then it gives up with exit 1 and says why
    assert proc.returncode == 1, proc.stderr
    assert (
        one_line(proc.stderr)
        == "invoicing: error: no result within 1 s: are the workers running and reachable?"
    )


def test_demo_timeout_out_of_range_is_exit_2(env: Env) -> None:
    proc = env.cli("demo", "--timeout", "0")
    assert proc.returncode == 2
    assert "Invalid value for '--timeout': 0.0 is not in the range 1<=x<=3600." in proc.stderr


# --- render ---------------------------------------------------------------------------


def test_render_refuses_an_existing_file_and_replaces_it_with_force(env: Env) -> None:
    # given a preview already written
    seed_fixtures(env)
    preview = env.path / "preview.pdf"
    preview.write_bytes(b"an older file")
    # when it is rendered over, first without --force, then with it
    refused = env.cli("render", "--account", "A-0001", "--period", "2026-10", "-o", str(preview))
    assert refused.returncode == 2
    assert "exists" in one_line(refused.stderr) and "--force" in refused.stderr
    assert preview.read_bytes() == b"an older file"
    forced = env.cli("render", "--account", "A-0001", "--period", "2026-10", "-o", str(preview), "--force")
    # then only the second writes: the German subscriber's draft (ENTWURF)
    assert forced.returncode == 0, forced.stderr
    assert f"wrote {preview}" in forced.stderr
    assert "ENTWURF" in PdfReader(preview).pages[0].extract_text()


def test_render_force_never_writes_into_the_output_folder(env: Env) -> None:
    # given a finished run
    seed_fixtures(env)
    summary = run_json(env, "--period", "2026-10")
    merged = Path(summary["output"])
    before = merged.read_bytes()
    # when a preview is asked to replace the run's merged file
    proc = env.cli("render", "--account", "A-0001", "--period", "2026-10", "-o", str(merged), "--force")
    # then it is refused, and the file is untouched
    assert proc.returncode == 2
    assert "is inside the output folder" in one_line(proc.stderr)
    assert merged.read_bytes() == before


def test_render_of_an_invoice_that_cannot_render_is_exit_1(env: Env) -> None:
    # given a subscriber whose locale has no translations
    seed_fixtures(env)
    break_locale("A-0001")
    out = env.path / "preview.pdf"
    # when its draft is rendered
    proc = env.cli("render", "--account", "A-0001", "--period", "2026-10", "-o", str(out))
    # then one line says why, and nothing is written
    assert proc.returncode == 1
    assert one_line(proc.stderr).startswith("invoicing: error: cannot render A-0001: ")
    assert "zz_ZZ" in proc.stderr
    assert not out.exists()


def test_render_of_an_issued_invoice_whose_file_and_record_disagree_is_exit_1(env: Env) -> None:
    # given an issued invoice whose recorded sha256 no longer matches its file
    seed_fixtures(env)
    run_json(env, "--period", "2026-10")
    with session_scope() as session:
        session.execute(update(Invoice).where(Invoice.number == "INV-2026-10-000001").values(sha256="0" * 64))
    out = env.path / "copy.pdf"
    # when it is asked for
    proc = env.cli("render", "--account", "A-0001", "--period", "2026-10", "-o", str(out))
    # then it refuses to hand out other bytes than were issued
    assert proc.returncode == 1
    assert "rendering it again does not give the bytes that were issued" in one_line(proc.stderr)
    assert not out.exists()


# --- credit ---------------------------------------------------------------------------


def test_a_credit_note_that_does_not_render_is_exit_1(env: Env) -> None:
    # given an issued invoice, and a folder where its credit note's file would go
    seed_fixtures(env)
    summary = run_json(env, "--period", "2026-10")
    (Path(summary["output"]).parent / "CN-2026-10-000001.pdf").mkdir()
    # when it is credited
    proc = env.cli("credit", "INV-2026-10-000001", "--json")
    # then the credit note is issued, but the command says it did not render, and how to retry
    assert proc.returncode == 1, proc.stderr
    note = json.loads(proc.stdout)
    assert (note["number"], note["invoice"], note["sha256"]) == (
        "CN-2026-10-000001",
        "INV-2026-10-000001",
        None,
    )
    # (the line before it is the embedded worker's own log of the failed invoice)
    assert "Traceback" not in proc.stderr
    last = proc.stderr.strip().splitlines()[-1]
    assert last.startswith("invoicing: error: the credit note did not render: cannot write the PDF")
    assert last.endswith(f"Is a directory (`invoicing retry {summary['run_id'] + 1}`)")


# --- charges --------------------------------------------------------------------------


def test_charges_unbillable_lists_only_the_charges_no_invoice_will_carry(env: Env) -> None:
    # given a late charge still waiting for an invoice, and one whose subscriber has ended
    late_charges(env)
    # when only the unbillable ones are asked for
    proc = env.cli("charges", "--unbillable", "--json")
    # then only that one is listed
    assert proc.returncode == 0, proc.stderr
    listed = json.loads(proc.stdout)
    assert set(listed) == {"unbillable"}
    assert [(c["id"], c["account"]) for c in listed["unbillable"]] == [("late-2", "A-0010")]
