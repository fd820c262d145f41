"""The billing run end to end: the chord of invoice batches and its merging body,
embedded and on real Redis with real worker processes, SQLite and PostgreSQL."""

from __future__ import annotations

import json
import re
from pathlib import Path

from pypdf import PdfReader
from sqlalchemy import select, update

from invoicing.db import session_scope
from invoicing.models import BillingRun, Invoice, Subscriber
from tests.support.checks import assert_run_consistent, assert_same_as_parsing_every_file, pdf_outline
from tests.support.envs import Env
from tests.support.factories import FIXTURES, generate, initialized, seed_fixtures
from tests.support.runs import (
    count_rows,
    invoices_of,
    run_at_once,
    run_json,
    summary_of,
    wait_for_final_status,
)
from tests.support.workers import TcpProxy, Workers

# --- embedded (no server) ------------------------------------------------------------------


def test_run_on_fixtures_embedded(env: Env) -> None:
    # given the bundled fixtures (19 subscribers billable in October)
    seed_fixtures(env)
    # when
    summary = run_json(env, "--period", "2026-10")
    # then
    assert summary["status"] == "completed" and summary["failed"] == 0
    assert_run_consistent(summary, 19)
    # and `status` reports the same from the database
    status = json.loads(env.cli("status", "--json", check=True).stdout)
    assert summary_of(status) == summary
    assert status["failures"] == [] and status["stalled"] is False


def issued(run_id: int) -> set[tuple[str, int, str | None]]:
    """Who was billed under which number, for which file contents."""
    return {(i.number, i.subscriber_id, i.sha256) for i in invoices_of(run_id)}


def renderings(run_id: int) -> dict[str, tuple[object, ...]]:
    """By invoice number: when it was rendered, and which file holds it
    (a rendering writes a new file and renames it into place: a new inode)."""
    state = {}
    for i in invoices_of(run_id):
        stat = Path(i.pdf_path).stat() if i.pdf_path and Path(i.pdf_path).exists() else None
        state[i.number] = (i.rendered_at, stat and (stat.st_ino, stat.st_mtime_ns))
    return state


RATE = re.compile(r"\d+\.\d/s")


def test_human_output_and_progress_bar_only_when_this_command_renders(env: Env) -> None:
    # given a completed run, whose command said what it issued, showed the bar and a
    # rate, and named the merged file
    seed_fixtures(env)
    first = env.cli("run", "--period", "2026-10")
    assert first.returncode == 0, first.stderr
    assert "billing run 1 for 2026-10: issued 19 invoices" in first.stderr
    assert "19/19" in first.stderr and RATE.search(first.stderr)  # the bar's last state
    assert "completed" in first.stdout and "billing-run-1.pdf" in first.stdout
    runs = env.cli("runs", check=True)
    assert "2026-10" in runs.stdout and "completed" in runs.stdout
    # when the period is run again
    again = env.cli("run", "--period", "2026-10")
    # then there is nothing to show progress of
    assert again.returncode == 0 and "already complete; nothing to do" in again.stderr
    assert "19/19" not in again.stderr and not RATE.search(again.stderr), again.stderr
    # when only the merged file is missing
    (Path(env.vars["INVOICING_OUTPUT_DIR"]) / "2026-10" / "billing-run-1.pdf").unlink()
    merging = env.cli("run", "--period", "2026-10")
    # then it merges without a bar
    assert merging.returncode == 0 and "all invoices rendered; merging again" in merging.stderr
    assert "19/19" not in merging.stderr and not RATE.search(merging.stderr), merging.stderr
    assert "completed" in merging.stdout
    # when one invoice's file is missing
    Path(invoices_of(1)[4].pdf_path).unlink()
    resumed = env.cli("run", "--period", "2026-10")
    # then the bar shows, its rate counting the one invoice rendered now
    assert resumed.returncode == 0 and "resuming: 1 of 19 invoices to render" in resumed.stderr
    assert "19/19" in resumed.stderr and RATE.search(resumed.stderr), resumed.stderr


def test_second_run_of_a_period_bills_nobody_twice(env: Env) -> None:
    seed_fixtures(env)
    first = run_json(env, "--period", "2026-10")
    before = issued(first["run_id"])
    # when the same period is run again
    again = env.cli("run", "--period", "2026-10", "--json")
    # then it is the same run, already complete, with the same invoices
    assert again.returncode == 0 and json.loads(again.stdout) == first
    assert issued(first["run_id"]) == before
    # when an invoice file went missing
    victim = invoices_of(first["run_id"])[4]
    untouched = renderings(first["run_id"])
    del untouched[victim.number]
    Path(victim.pdf_path).unlink()
    proc = env.cli("run", "--period", "2026-10", "--json")
    # then a new `run` renders just that one, to the same bytes, and merges again
    assert proc.returncode == 0, proc.stderr
    third = json.loads(proc.stdout)
    assert third["run_id"] == first["run_id"]
    after = renderings(first["run_id"])
    rendered_at, file = after.pop(victim.number)
    assert after == untouched  # no other invoice rendered again, no other file rewritten
    assert rendered_at > victim.rendered_at and file is not None
    assert issued(first["run_id"]) == before  # the victim's new file has its old sha256
    assert_run_consistent(third, 19)
    assert count_rows(BillingRun) == 1


def test_a_bad_subscriber_never_sinks_the_run_and_retry_completes_it(env: Env, tmp_path: Path) -> None:
    # given a subscriber whose data makes its invoice fail (a locale nobody knows)
    seed_fixtures(env)
    with session_scope() as session:
        session.execute(update(Subscriber).where(Subscriber.account == "A-0003").values(locale="xx_XX"))
    # when
    summary = run_json(env, "--period", "2026-10", expect=3)
    # then the run completes with errors, and the merged file holds all the others
    assert summary["status"] == "completed_with_errors" and summary["failed"] == 1
    assert_run_consistent(summary, 19, failed=1)
    assert_same_as_parsing_every_file(summary, tmp_path / "first")
    status = json.loads(env.cli("status", str(summary["run_id"]), "--json").stdout)
    assert [f["account"] for f in status["failures"]] == ["A-0003"]
    assert "unknown locale 'xx_XX'" in status["failures"][0]["error"]
    human = env.cli("status")
    assert human.returncode == 3 and "A-0003" in human.stdout and "unknown locale" in human.stdout
    # when the data is fixed and the run retried
    with session_scope() as session:
        session.execute(update(Subscriber).where(Subscriber.account == "A-0003").values(locale="de_DE"))
    proc = env.cli("retry", str(summary["run_id"]), "--json")
    # then it completes, with the same numbers, and the file now holds every invoice
    assert proc.returncode == 0, proc.stderr
    fixed = json.loads(proc.stdout)
    assert fixed["status"] == "completed" and fixed["failed"] == 0 and fixed["run_id"] == summary["run_id"]
    assert_run_consistent(fixed, 19)
    assert_same_as_parsing_every_file(fixed, tmp_path / "fixed")


def test_run_completes_when_pre_linking_fails(env: Env, tmp_path: Path) -> None:
    # given something in the way of the folder the header pre-links into
    seed_fixtures(env)
    blocker = Path(env.vars["INVOICING_OUTPUT_DIR"]) / "2026-10" / ".prelinked"
    blocker.parent.mkdir(parents=True)
    blocker.write_text("not a folder")
    # when
    proc = env.cli("run", "--period", "2026-10", "--json")
    # then pre-linking is only an optimisation: the body parses every invoice instead
    assert proc.returncode == 0, proc.stderr
    assert f"cannot write {blocker}: File exists" in proc.stderr and "Traceback" not in proc.stderr
    summary = json.loads(proc.stdout)
    assert summary["status"] == "completed" and summary["invoices"] == 19
    assert_same_as_parsing_every_file(summary, tmp_path / "parsed")
    assert blocker.read_text() == "not a folder"


def test_run_usage_errors(env: Env) -> None:
    seed_fixtures(env)
    # refused before anything is dispatched: in this process
    bad = env.invoke("run", "--period", "2026-13")
    assert bad.exit_code == 2 and "not a period (YYYY-MM): '2026-13'" in bad.stderr
    no_wait = env.invoke("run", "--period", "2026-10", "--no-wait")
    assert no_wait.exit_code == 2 and "--no-wait needs a broker" in no_wait.stderr
    unknown = env.invoke("status", "42")
    assert unknown.exit_code == 2 and "no billing run 42" in unknown.stderr
    # retry starts its embedded worker before it looks the run up: a process of its own
    retry = env.cli("retry", "42")
    assert retry.returncode == 2 and "no billing run 42" in retry.stderr
    assert count_rows(BillingRun) == 0


def test_period_without_billable_subscribers(env: Env) -> None:
    seed_fixtures(env)
    summary = run_json(env, "--period", "2020-01", "--force-period")
    assert summary["status"] == "completed" and summary["invoices"] == 0 and summary["output"] is None


# --- one-off merge --------------------------------------------------------------------------


def test_merge_given_accounts_in_the_given_order(env: Env, tmp_path: Path) -> None:
    seed_fixtures(env)
    run_json(env, "--period", "2026-10")
    numbers = {}
    with session_scope() as session:
        for account, number in session.execute(
            select(Subscriber.account, Invoice.number).join(Invoice, Invoice.subscriber_id == Subscriber.id)
        ):
            numbers[account] = number
    # an invoice whose file is gone is rendered again through the same tasks
    Path(invoices_of(1)[0].pdf_path).unlink()
    first_account = next(a for a, n in numbers.items() if n.endswith("000001"))
    order = ["A-0007", first_account, "A-0002"]
    out = tmp_path / "batch.pdf"
    proc = env.cli("merge", "--accounts", ",".join(order), "--period", "2026-10", "-o", str(out))
    assert proc.returncode == 0, proc.stderr
    titles = pdf_outline(out)
    assert [t.split(" — ")[0] for t in titles] == [numbers[a] for a in order]
    # an existing file is kept unless --force
    again = env.cli("merge", "--accounts", "A-0001", "--period", "2026-10", "-o", str(out))
    assert again.returncode == 2 and "already exists" in again.stderr
    assert len(pdf_outline(out)) == 3
    accounts_file = tmp_path / "accounts.txt"
    accounts_file.write_text("# print shop batch\nA-0002\n\nA-0001\n", encoding="utf-8")
    forced = env.cli(
        "merge", "--from-file", str(accounts_file), "--period", "2026-10", "-o", str(out), "--force"
    )
    assert forced.returncode == 0, forced.stderr
    assert [t.split(" — ")[0] for t in pdf_outline(out)] == [numbers["A-0002"], numbers["A-0001"]]


def test_merge_unknown_accounts_writes_nothing(env: Env, tmp_path: Path) -> None:
    seed_fixtures(env)
    run_json(env, "--period", "2026-10")
    out = tmp_path / "x.pdf"
    proc = env.cli(
        "merge", "--accounts", "A-0001,NOPE-1,A-0002,NOPE-2", "--period", "2026-10", "-o", str(out)
    )
    assert proc.returncode == 2
    assert "unknown accounts: NOPE-1, NOPE-2" in proc.stderr
    assert not out.exists() and "Traceback" not in proc.stderr
    as_dir = env.cli("merge", "--accounts", "A-0001", "--period", "2026-10", "-o", str(tmp_path))
    assert as_dir.returncode == 2 and "is a directory" in as_dir.stderr
    no_period = env.cli("merge", "--accounts", "A-0001", "--period", "2026-08", "-o", str(out))
    assert no_period.returncode == 2 and "no invoice for 2026-08" in no_period.stderr and not out.exists()


# --- preview -----------------------------------------------------------------------------------


def test_render_preview(env: Env, tmp_path: Path) -> None:
    seed_fixtures(env)
    out = tmp_path / "preview.pdf"
    proc = env.cli("render", "--account", "A-0001", "--period", "2026-10", "-o", str(out))
    assert proc.returncode == 0, proc.stderr
    text_ = PdfReader(out).pages[0].extract_text()
    assert "ENTWURF-2026-10" in text_  # a de_DE subscriber's draft, in German
    assert count_rows(Invoice) == 0
    missing = tmp_path / "none.pdf"
    unknown = env.cli("render", "--account", "NOPE", "--period", "2026-10", "-o", str(missing))
    assert unknown.returncode == 2 and "unknown account 'NOPE'" in unknown.stderr and not missing.exists()
    inactive = env.cli("render", "--account", "A-0001", "--period", "2019-01", "-o", str(missing))
    assert inactive.returncode == 2 and "not billable in 2019-01" in inactive.stderr and not missing.exists()


# --- real Redis, real worker processes ---------------------------------------------------------


def test_run_on_redis_with_worker_processes_on_sqlite(workers: Workers) -> None:
    """Two worker processes (two pool processes each) writing one SQLite file (WAL)."""
    env = workers.env
    generate(env, 120, seed=5)
    workers.start(count=2, concurrency=2)
    summary = run_json(env, "--period", "2026-10", INVOICING_BATCH_SIZE="7")
    assert summary["status"] == "completed"
    assert_run_consistent(summary, 120)
    log = workers.log_text()
    # the header really was spread over batches and processes
    assert log.count("invoicing.render_batch[") >= 2 * 18
    assert "invoicing.merge_run[" in log


def test_no_wait_then_status_on_postgres(pg_env: Env, workers: Workers) -> None:
    env = workers.env
    seed_fixtures(env)
    workers.start(count=1, concurrency=2)
    dispatched = run_json(env, "--period", "2026-10", "--no-wait")
    assert dispatched["status"] == "rendering" and dispatched["invoices"] == 19
    status = wait_for_final_status(env, dispatched["run_id"], 120)
    assert status["status"] == "completed"
    assert_run_consistent(summary_of(status), 19)


def test_two_runs_started_at_once_make_one_run(pg_env: Env, workers: Workers) -> None:
    env = workers.env
    initialized(env)
    env.cli("db", "seed", "--generate", "150", "--period", "2026-10", check=True)
    workers.start(count=1, concurrency=2)
    # when two `invoicing run` commands start at the same instant
    summaries = run_at_once(env, "--period", "2026-10")
    # then both follow the one run, and nobody is billed twice
    assert summaries[0]["run_id"] == summaries[1]["run_id"]
    assert count_rows(BillingRun) == 1 and count_rows(Invoice) == 150
    assert_run_consistent(summaries[0], 150)


def test_transient_database_outage_is_retried(pg_env: Env, workers: Workers) -> None:
    """The workers lose the database for a while; their tasks retry and the run completes."""
    env = workers.env
    seed_fixtures(env)
    database_url = env.vars["INVOICING_DATABASE_URL"]
    proxy = TcpProxy(5432)
    try:
        workers.start(
            count=1, concurrency=2, INVOICING_DATABASE_URL=database_url.replace(":5432/", f":{proxy.port}/")
        )
        proxy.cut()
        # when the run is dispatched while the workers cannot reach the database
        dispatched = run_json(env, "--period", "2026-10", "--no-wait", INVOICING_BATCH_SIZE="5")
        # then the workers' batches fail on the database and are retried (what their log says)
        workers.wait_for_log("transient error, retrying", timeout=60)
        proxy.restore()
        # then the retries succeed once it is back
        status = wait_for_final_status(env, dispatched["run_id"], 150)
    finally:
        proxy.close()
    assert status["status"] == "completed", status
    assert_run_consistent(summary_of(status), 19)


def test_fixtures_file_is_where_the_readme_says() -> None:
    assert FIXTURES.is_file()


def test_beat_entry_starts_and_completes_the_previous_period(workers: Workers) -> None:
    """What Celery beat sends at 02:00: the task issues and dispatches the run itself."""
    from invoicing.celery import app

    env = workers.env
    seed_fixtures(env)
    workers.start(count=1, concurrency=2)
    started = app.send_task("invoicing.start_billing_run", args=["2026-10"]).get(timeout=60)
    assert started["action"] == "created" and started["period"] == "2026-10"
    status = wait_for_final_status(env, started["run_id"], 120)
    assert_run_consistent(summary_of(status), 19)


def test_status_and_runs_from_the_outside(env: Env) -> None:
    seed_fixtures(env)
    empty = env.cli("status")
    assert empty.returncode == 2 and "no billing runs yet" in empty.stderr and "Traceback" not in empty.stderr
    summary = run_json(env, "--period", "2026-10")
    listed = json.loads(env.cli("runs", "--json", check=True).stdout)
    assert [(r["run_id"], r["period"], r["status"], r["invoices"]) for r in listed] == [
        (summary["run_id"], "2026-10", "completed", 19)
    ]
    assert listed[0]["output"] == summary["output"] and PdfReader(summary["output"]).outline
