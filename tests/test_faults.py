"""Faults: killed workers, a restarted Redis, a lost or failing chord body, bad data in
5% of the invoices, a full disk. Whatever happens, each subscriber is billed once and
each invoice is in the merged file exactly once.

A fault strikes at a known point, never after a sleep or once a count happens to be
reached: the test holds the lock a batch needs to finish (support/faults.py), waits
until the workers report which batches their pool processes hold, and acts on those.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
from pathlib import Path

import pytest
from sqlalchemy import func, select, update

from invoicing.db import session_scope
from invoicing.models import Invoice, InvoiceStatus, Subscriber
from tests.support.checks import assert_run_consistent
from tests.support.envs import Env, reset_settings
from tests.support.factories import generate, seed_fixtures
from tests.support.faults import invoice_writes_held, merged_file_blocked, writers_waiting
from tests.support.runs import run_json, status_of, summary_of, wait_for_final_status, wait_until
from tests.support.workers import PrivateRedis, Workers

pytestmark = pytest.mark.slow
# For tests whose waits' guards add up to more than the suite's 300 s: one of those
# guards, which says what was stuck, fails first on a machine that is merely slow.
OUTLIVES_ITS_GUARDS = pytest.mark.timeout(600)


def dispatch(env: Env, batch_size: int) -> int:
    """Issue the October run and queue its batches (no worker need be up); its id."""
    return run_json(env, "--period", "2026-10", "--no-wait", INVOICING_BATCH_SIZE=str(batch_size))["run_id"]


def test_killed_pool_processes_mid_run_are_redelivered(pg_env: Env, workers: Workers) -> None:
    env = workers.env
    generate(env, 400)
    run_id = dispatch(env, batch_size=20)
    with invoice_writes_held(env.vars["INVOICING_DATABASE_URL"]):
        workers.start(count=1, concurrency=2)
        # when both pool processes are killed while each holds a batch it cannot finish
        held = workers.held_batches(0)
        workers.kill_pool_processes(list(held))
    # then their batches are redelivered to the respawned pool and the run completes
    status = wait_for_final_status(env, run_id, 180, workers.log_text)
    assert status["status"] == "completed", status
    assert_run_consistent(summary_of(status), 400)
    log = workers.log_text()
    assert log.count("WorkerLostError('Worker exited prematurely: signal 9 (SIGKILL)") == len(held) == 2
    for task_id in held.values():
        assert log.count(f"invoicing.render_batch[{task_id}] received") == 2, task_id
        assert f"invoicing.render_batch[{task_id}] succeeded" in log, task_id


@OUTLIVES_ITS_GUARDS
def test_a_chord_body_delivered_before_its_batches_are_done_waits_for_them(
    pg_env: Env, workers: Workers
) -> None:
    """The body's message arrives while batches still render (as when a redelivered batch
    was counted twice by the chord): it merges nothing yet, and the run completes with
    every invoice once."""
    from invoicing.celery import app

    env = workers.env
    database_url = env.vars["INVOICING_DATABASE_URL"]
    seed_fixtures(env)
    run_id = dispatch(env, batch_size=10)  # 19 invoices: two batches
    with invoice_writes_held(database_url):
        # given both batches taken and waiting to record their invoices, a process free
        workers.start(count=1, concurrency=3)
        assert wait_until(lambda: writers_waiting(database_url) == 2, 90), workers.log_text()[-3000:]
        # when a body for the run is delivered now
        app.send_task(
            "invoicing.merge_run", args=[run_id], queue=env.vars.get("INVOICING_QUEUE", "invoicing")
        )
        # then it waits for the pending invoices instead of merging without them
        workers.wait_for_log(
            f"billing run {run_id}: 19 invoices not rendered yet; merging again", timeout=120
        )
        assert status_of(env, run_id)["status"] == "rendering", workers.log_text()[-3000:]
    # and once the batches are done the run completes, every invoice once
    status = wait_for_final_status(env, run_id, 180, workers.log_text)
    assert_run_consistent(summary_of(status), 19)


def test_killed_worker_is_recovered_by_the_visibility_timeout(pg_env: Env, workers: Workers) -> None:
    env = workers.env
    generate(env, 300)
    run_id = dispatch(env, batch_size=15)
    # PostgreSQL: the hold below has no busy timeout that could run out on a slow machine
    with invoice_writes_held(env.vars["INVOICING_DATABASE_URL"]):
        # two workers; unacknowledged messages go back to the queue 5 s after delivery
        workers.start(count=2, concurrency=1, INVOICING_VISIBILITY_TIMEOUT_S="5")
        # when a whole worker dies (main process and pool) holding a batch
        (lost,) = workers.held_batches(0).values()
        workers.kill_node(0)
    # then its batch goes back to the queue and the other worker takes it
    survivor = workers.logs[1]
    redelivered = f"invoicing.render_batch[{lost}] received"
    assert wait_until(lambda: redelivered in survivor.read_text(errors="replace"), 120), (
        f"the killed worker's batch {lost} was never redelivered"
    )
    # and the run completes by itself
    status = wait_for_final_status(env, run_id, 180, workers.log_text)
    assert status["status"] == "completed", status
    assert_run_consistent(summary_of(status), 300)
    assert f"invoicing.render_batch[{lost}] succeeded" in survivor.read_text(errors="replace")


def test_stalled_run_is_finished_by_the_reconciler(pg_env: Env, workers: Workers) -> None:
    """A worker dies holding messages that will not be redelivered for an hour: the
    chord can never complete and its body never fires. Beat's reconciler notices the
    stalled run and resumes it without a person."""
    env = workers.env
    generate(env, 300)
    stall = {"INVOICING_STALL_AFTER_S": "10", "INVOICING_RECONCILE_EVERY_S": "2"}
    run_id = dispatch(env, batch_size=15)
    with invoice_writes_held(env.vars["INVOICING_DATABASE_URL"]):
        workers.start(count=1, concurrency=2, **stall)
        lost = list(workers.held_batches(0).values())
        workers.kill_node(0)
    # a fresh worker takes what is still queued; the dead one's batches stay invisible
    workers.start(count=1, concurrency=2, **stall)
    workers.start_beat(**stall)
    # then, once nothing has moved for the stall time, the reconciler resumes the run
    # (what reconcile_runs returned, in the worker's log)
    workers.wait_for_log(f"{{'run_id': {run_id}, 'action': 'resumed'}}", timeout=180)
    status = wait_for_final_status(env, run_id, 180, workers.log_text)
    assert status["status"] == "completed", (status, workers.log_text()[-3000:])
    assert_run_consistent(summary_of(status), 300)
    log = workers.log_text()
    assert not [task_id for task_id in lost if f"render_batch[{task_id}] succeeded" in log]


def rendered_count(run_id: int) -> int:
    with session_scope() as session:
        return (
            session.scalar(
                select(func.count())
                .select_from(Invoice)
                .where(Invoice.run_id == run_id, Invoice.status == InvoiceStatus.RENDERED)
            )
            or 0
        )


@OUTLIVES_ITS_GUARDS
def test_redis_outage_mid_run_is_ridden_out(
    pg_env: Env, private_redis: PrivateRedis, private_workers: Workers
) -> None:
    """Redis goes away mid-run and comes back with its data (it persists it): the worker
    finishes the batches it holds and exits for its supervisor to start it again, and the
    run completes by itself, every invoice rendered once."""
    env = private_workers.env
    database_url = env.vars["INVOICING_DATABASE_URL"]
    generate(env, 300)
    run_id = dispatch(env, batch_size=10)
    # a batch the worker had taken but not finished when the connection went is delivered
    # again once its visibility timeout runs out: 10 s here, 3600 s by default
    private_workers.start(count=1, concurrency=2, INVOICING_VISIBILITY_TIMEOUT_S="10")
    worker = private_workers.procs[0]
    # given rendering under way: invoices rendered, the rest still to come
    assert wait_until(lambda: rendered_count(run_id) > 0, 120), private_workers.log_text()[-3000:]
    with invoice_writes_held(database_url):
        # and both pool processes waiting to record a batch (seen in the database: the
        # worker is asked nothing, a reply it is sending could not hold up the fault)
        assert wait_until(lambda: writers_waiting(database_url) == 2, 90), private_workers.log_text()[-3000:]
        # when Redis stops (its data on disk, every connection to it closed) and starts
        # again on the same port
        private_redis.stop()
        private_redis.start()
    # then the worker finishes its batches and exits, and its supervisor starts it again
    # (a busy worker may notice only now: Celery's heartbeat retries its publish until
    # Redis answers)
    assert worker.wait(timeout=120) == 1, private_workers.log_text()[-3000:]
    assert private_workers.replace_exited() == 1
    # and the run completes without a person: nothing lost, nothing twice
    status = wait_for_final_status(env, run_id, 180, private_workers.log_text)
    assert status["status"] == "completed", (status, private_workers.log_text()[-3000:])
    assert_run_consistent(summary_of(status), 300)


@OUTLIVES_ITS_GUARDS
def test_redis_restart_mid_run_then_retry(private_redis: PrivateRedis, private_workers: Workers) -> None:
    """Redis (no persistence) restarts mid-run: queued batches and the chord counter are
    gone. The run is reported stalled and `invoicing retry` completes it."""
    env = private_workers.env
    env.vars["INVOICING_STALL_AFTER_S"] = "10"
    generate(env, 300)
    run_id = dispatch(env, batch_size=10)
    with invoice_writes_held(env.vars["INVOICING_DATABASE_URL"]):
        private_workers.start(count=1, concurrency=2)
        # when Redis restarts empty while two of the 30 batches are in the workers' hands
        assert len(private_workers.held_batches(0)) == 2
        private_redis.kill()
        private_redis.forget()
        private_redis.start()
        # this process's broker connections, and the reply queues they declared, went
        # with the old server: connect afresh, as a new command would
        reset_settings()
    # then nothing moves any more once what the workers held is done
    assert wait_until(lambda: status_of(env, run_id)["stalled"], 120), status_of(env, run_id)
    assert status_of(env, run_id)["status"] == "rendering"
    # a worker that lost Redis exits, and its supervisor starts it again
    assert private_workers.procs[0].wait(timeout=120) == 1, private_workers.log_text()[-3000:]
    assert private_workers.replace_exited() == 1
    private_workers.wait_answering()
    proc = env.cli("retry", str(run_id), "--json")
    assert proc.returncode == 0, (proc.stdout, proc.stderr)
    status = status_of(env, run_id)
    assert status["status"] == "completed", status
    assert_run_consistent(summary_of(status), 300)


def test_five_percent_bad_invoices_with_workers(workers: Workers) -> None:
    env = workers.env
    generate(env, 200)
    with session_scope() as session:
        accounts = session.scalars(select(Subscriber.account).order_by(Subscriber.account)).all()
        broken = accounts[3::20]  # 10 of 200
        session.execute(update(Subscriber).where(Subscriber.account.in_(broken)).values(locale="zz_ZZ"))
    workers.start(count=1, concurrency=2)
    result = run_json(env, "--period", "2026-10", expect=3)
    assert result["status"] == "completed_with_errors" and result["failed"] == len(broken)
    assert_run_consistent(result, 200, failed=len(broken))
    status = status_of(env, result["run_id"])
    assert sorted(f["account"] for f in status["failures"]) == sorted(broken)
    assert all("unknown locale 'zz_ZZ'" in f["error"] for f in status["failures"])
    # after the data is fixed, retry completes the run
    with session_scope() as session:
        session.execute(update(Subscriber).where(Subscriber.account.in_(broken)).values(locale="en_GB"))
    proc = env.cli("retry", str(result["run_id"]), "--json")
    assert proc.returncode == 0, proc.stderr
    assert_run_consistent(json.loads(proc.stdout), 200)


def test_failing_merge_is_reported_and_retry_merges(env: Env) -> None:
    seed_fixtures(env)
    # a folder where the merged file must go makes the body's write fail
    with merged_file_blocked(env.vars["INVOICING_OUTPUT_DIR"], "2026-10", 1):
        failed = run_json(env, "--period", "2026-10", expect=1)
        assert failed["status"] == "failed" and failed["output"] is None
        status = status_of(env, failed["run_id"])
        assert status["error"].startswith("merge failed: cannot write") and status["stalled"] is True
        assert status["rendered"] == 19
        human = env.cli("status")
        assert "stalled" in human.stdout and "merge failed" in human.stdout
    proc = env.cli("retry", "1", "--json")
    assert proc.returncode == 0, proc.stderr
    fixed = json.loads(proc.stdout)
    assert fixed["status"] == "completed"
    assert_run_consistent(fixed, 19)


def test_unwritable_output_folder_is_refused_before_issuing(env: Env) -> None:
    # given a file where the period's output folder should be
    seed_fixtures(env)
    output = Path(env.vars["INVOICING_OUTPUT_DIR"])
    output.mkdir()
    (output / "2026-10").write_text("a file where the period's folder should be")
    # when the month is run
    proc = env.cli("run", "--period", "2026-10")
    # then it is refused in one line naming the folder, and nothing is issued
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.strip().splitlines() == [
        f"invoicing: error: INVOICING_OUTPUT_DIR: cannot write in {output / '2026-10'}: File exists; "
        "nothing was issued: give a folder this user can write"
    ]
    with session_scope() as session:
        assert session.scalar(select(func.count()).select_from(Invoice)) == 0


def test_an_invoice_file_that_cannot_be_written_fails_that_invoice_with_a_reason(env: Env) -> None:
    # given a folder where one invoice's file should be (the folder itself is writable)
    seed_fixtures(env)
    period = Path(env.vars["INVOICING_OUTPUT_DIR"]) / "2026-10"
    (period / "INV-2026-10-000003.pdf").mkdir(parents=True)
    # when the month is run
    result = run_json(env, "--period", "2026-10", expect=3)
    # then that invoice alone failed, with the reason, and everybody else is in the merged file
    assert (result["status"], result["failed"], result["invoices"]) == ("completed_with_errors", 1, 19)
    status = status_of(env, result["run_id"])
    assert [(f["number"], f["error"].startswith("cannot write the PDF")) for f in status["failures"]] == [
        ("INV-2026-10-000003", True)
    ], status["failures"]


@pytest.fixture
def tiny_disk(tmp_path: Path) -> Path:
    mount = tmp_path / "tiny"
    mount.mkdir()
    proc = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=160k", "tmpfs", str(mount)], capture_output=True, text=True
    )
    if proc.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs here: {proc.stderr.strip()}")
    yield mount
    subprocess.run(["umount", "-l", str(mount)], check=False)


def test_disk_full_leaves_no_truncated_pdf(env: Env, tiny_disk: Path) -> None:
    seed_fixtures(env)
    result = run_json(env, "--period", "2026-10", INVOICING_OUTPUT_DIR=str(tiny_disk), expect=1)
    status = status_of(env, result["run_id"])
    reasons = {f["error"] for f in status["failures"]}
    assert status["failed"] > 0 and any("disk full" in r for r in reasons), reasons
    # every file left in the folder is a whole PDF the database knows, no temp files
    with session_scope() as session:
        known = {
            Path(p).name: sha
            for p, sha in session.execute(
                select(Invoice.pdf_path, Invoice.sha256).where(Invoice.status == InvoiceStatus.RENDERED)
            )
        }
    for path in (tiny_disk / "2026-10").iterdir():
        if path.name == ".prelinked":  # the batches pre-linked for the merge: whole files only
            assert all(p.suffix == ".frag" and not p.name.startswith(".") for p in path.iterdir())
            continue
        assert not path.name.startswith("."), f"temp file left behind: {path.name}"
        if path.name.startswith("billing-run-"):
            continue
        assert hashlib.sha256(path.read_bytes()).hexdigest() == known[path.name]
