"""The merge ahead: a run's merge starts while its batches render (run/ahead.py), writes
what the body would write byte for byte, and never records a run it did not merge whole;
when it cannot finish (it gave up, its process died, the run was dispatched again), the
body merges the run itself and never waits on a merger that is gone. Its lease is on the
run's row (run/lease.py). Real Redis, real worker processes, real SQLite files or
PostgreSQL where processes write the same rows at once."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import create_engine, select, text, update

from invoicing.billing import Period, create_run
from invoicing.config import get_settings
from invoicing.db import session_scope
from invoicing.models import BillingRun, Invoice, InvoiceStatus, RunStatus
from invoicing.run import ahead, dispatch, lease, steps
from invoicing.run.paths import fragments_dir
from invoicing.run.state import aware
from invoicing.storage import store_for
from tests.support.checks import assert_run_consistent, assert_same_as_parsing_every_file
from tests.support.envs import Env
from tests.support.factories import generate, seed_fixtures
from tests.support.faults import merged_file_blocked
from tests.support.runs import issue_run, run_json, status_of, summary_of, wait_for_final_status, wait_until
from tests.support.workers import Workers


def dispatched_at(run_id: int) -> datetime:
    with session_scope() as session:
        run = session.get(BillingRun, run_id)
        assert run is not None and run.dispatched_at is not None
        return aware(run.dispatched_at)


def lease_of(run_id: int) -> tuple[str | None, datetime | None]:
    with session_scope() as session:
        run = session.get(BillingRun, run_id)
        assert run is not None
        return run.merge_lease, run.merge_lease_until


def sha256_of(path: str) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def test_a_run_is_merged_ahead_by_the_workers_byte_for_byte_as_the_body_would(
    workers: Workers, tmp_path: Path
) -> None:
    # given 300 subscribers in batches of 7 and two worker processes of two each
    env = workers.env
    generate(env, 300, seed=7)
    workers.start(count=2, concurrency=2)
    # when the run goes through them
    summary = run_json(env, "--period", "2026-10", INVOICING_BATCH_SIZE="7")
    # then it completed, every invoice once in the merged file, whose bytes are those of
    # merging every invoice file in number order
    assert summary["status"] == "completed"
    assert_run_consistent(summary, 300)
    assert_same_as_parsing_every_file(summary, tmp_path)
    # and it was the merge ahead that merged and recorded it, and let go of its lease
    run_id = summary["run_id"]
    assert f"billing run {run_id} merged ahead: completed" in workers.log_text()
    assert lease_of(run_id) == (None, None)
    # and when the merged file is lost and the run retried, the body's own merge writes
    # the same bytes
    ahead_sha = sha256_of(summary["output"])
    os.unlink(summary["output"])
    proc = env.cli("retry", str(run_id), "--json")
    assert proc.returncode == 0, (proc.stdout, proc.stderr)
    again = json.loads(proc.stdout)
    assert (again["status"], again["sha256"], sha256_of(again["output"])) == (
        "completed",
        ahead_sha,
        ahead_sha,
    )
    assert workers.log_text().count(f"billing run {run_id} merged ahead") == 1


def test_volumes_merged_ahead_are_the_bodys_byte_for_byte(workers: Workers) -> None:
    # given print volumes of at most 40 pages, and the run merged ahead
    env = workers.env
    generate(env, 120, seed=11)
    workers.start(count=1, concurrency=2, INVOICING_VOLUME_MAX_PAGES="40")
    summary = run_json(env, "--period", "2026-10", INVOICING_BATCH_SIZE="9", INVOICING_VOLUME_MAX_PAGES="40")
    run_id = summary["run_id"]
    assert summary["status"] == "completed" and f"billing run {run_id} merged ahead" in workers.log_text()
    with session_scope() as session:
        run = session.get(BillingRun, run_id)
        assert run is not None
        ahead_volumes = [(v.output_path, v.sha256) for v in run.volumes]
    assert len(ahead_volumes) > 1
    # when every volume is lost and the run retried: the body merges it
    for path, _ in ahead_volumes:
        os.unlink(path)
    proc = env.cli("retry", str(run_id), "--json", INVOICING_VOLUME_MAX_PAGES="40")
    assert proc.returncode == 0, (proc.stdout, proc.stderr)
    # then the body's volumes are the same files, byte for byte
    with session_scope() as session:
        run = session.get(BillingRun, run_id)
        assert run is not None
        body_volumes = [(v.output_path, sha256_of(v.output_path)) for v in run.volumes]
    assert body_volumes == ahead_volumes


def render_in_order(run_id: int, ids: list[int], order: list[int], size: int) -> None:
    """Commit the run's batches of `size` in the batch `order` given, a moment apart."""
    for index in order:
        time.sleep(0.3)
        steps.render_invoices(ids[index * size : (index + 1) * size])


def test_batches_committing_out_of_order_are_merged_in_number_order(redis_env: Env) -> None:
    # given an issued run (19 invoices) whose merge ahead started before anything rendered
    run_id = issue_run(status=RunStatus.RENDERING, dispatched_at=datetime.now(UTC))
    with session_scope() as session:
        ids = list(session.scalars(select(Invoice.id).where(Invoice.run_id == run_id).order_by(Invoice.seq)))
    held = lease.try_take(run_id, lease.token("test"))
    assert held is not None
    seen: list[str] = []
    parts = ahead.ready_parts(run_id, held, dispatched_at(run_id), get_settings())
    reader = threading.Thread(target=lambda: seen.extend(part.label for part in parts))
    reader.start()
    # when its batches of 5 commit last first
    render_in_order(run_id, ids, [3, 1, 2, 0], 5)
    reader.join(timeout=60)
    held.release()
    # then the parts came in number order, each once
    assert not reader.is_alive()
    with session_scope() as session:
        numbers = list(
            session.scalars(select(Invoice.number).where(Invoice.run_id == run_id).order_by(Invoice.seq))
        )
    assert seen == numbers


def test_a_merge_far_behind_the_batches_links_every_part_from_its_fragment(env: Env) -> None:
    # given an issued run of 40 invoices, each rendered in a batch of its own: 40 fragment
    # files are there before the merge looks at the first
    generate(env, 40)
    with session_scope() as session:
        run_id = create_run(session, get_settings(), Period(2026, 10)).id
    with session_scope() as session:
        ids = list(session.scalars(select(Invoice.id).where(Invoice.run_id == run_id).order_by(Invoice.seq)))
    for invoice_id in ids:
        steps.render_invoices([invoice_id])
    with session_scope() as session:
        shas = list(
            session.scalars(select(Invoice.sha256).where(Invoice.run_id == run_id).order_by(Invoice.seq))
        )
    settings = get_settings()
    fragments = ahead.GrowingFragments(store_for(settings), fragments_dir(settings, "2026-10"))
    # when the merge asks for the parts in number order
    found = [fragments.get(sha) for sha in shas]
    # then each came from its fragment (none parsed), and each file was let go once used up
    assert len(shas) == 40 and all(fragment is not None for fragment in found)
    assert fragments.used == 40 and not fragments.files


def test_a_merge_ahead_of_a_run_dispatched_again_gives_up_and_records_nothing(redis_env: Env) -> None:
    # given a run whose merge ahead waits for its batches
    run_id = issue_run(status=RunStatus.RENDERING, dispatched_at=datetime.now(UTC))
    held = lease.try_take(run_id, lease.token("test"), dispatched_at(run_id))
    assert held is not None
    parts = ahead.ready_parts(run_id, held, dispatched_at(run_id), get_settings())
    # when the run is dispatched again (`retry`, the reconciler) before it finished
    with session_scope() as session:
        session.execute(update(BillingRun).values(dispatched_at=datetime.now(UTC)))
    # then it stops: the new dispatch's body merges
    with pytest.raises(ahead.GaveUp, match="dispatched again"):
        next(parts)
    held.release()


def a_rendered_run() -> int:
    run_id = issue_run(status=RunStatus.RENDERING, dispatched_at=datetime.now(UTC))
    with session_scope() as session:
        ids = list(session.scalars(select(Invoice.id).where(Invoice.run_id == run_id)))
    steps.render_invoices(ids)
    return run_id


def test_the_body_waits_out_a_dead_merge_ahead_then_merges_the_run_itself(redis_env: Env) -> None:
    # given a rendered run whose merge ahead died holding the lease (it lapses in 1.5 s)
    run_id = a_rendered_run()
    lapses = datetime.now(UTC) + timedelta(seconds=1.5)
    with session_scope() as session:
        session.execute(
            update(BillingRun).values(merge_lease="ahead:a dead process", merge_lease_until=lapses)
        )
    # when the body comes
    summary = steps.merge_run_invoices(run_id)
    # then it waited for the lease to lapse, merged everything itself and let go of it
    assert summary.status == "completed" and datetime.now(UTC) >= lapses
    assert lease_of(run_id) == (None, None)
    with session_scope() as session:
        statuses = set(session.scalars(select(Invoice.status).where(Invoice.run_id == run_id)))
    assert statuses == {InvoiceStatus.RENDERED}


def test_a_retried_runs_body_never_waits_on_the_earlier_dispatchs_merger(redis_env: Env) -> None:
    # given a rendered run whose merge failed, with a lease an earlier merger left that
    # would look alive for an hour (its worker lost Redis and exited with it)
    run_id = a_rendered_run()
    with session_scope() as session:
        session.execute(
            update(BillingRun).values(
                status=RunStatus.FAILED,
                error="merge failed: cannot write",
                finished_at=datetime.now(UTC),
                merge_lease="ahead:a worker that exited",
                merge_lease_until=datetime.now(UTC) + timedelta(hours=1),
            )
        )
    # when it is retried
    started = dispatch.resume(run_id, settings=get_settings())
    # then the new dispatch cleared the lease, and its body merges at once
    assert started.action == "merging" and lease_of(run_id) == (None, None)
    assert steps.merge_run_invoices(run_id).status == "completed"


def test_a_body_delivered_again_after_the_run_was_recorded_returns_its_result(redis_env: Env) -> None:
    # given a run the body merged and recorded
    run_id = a_rendered_run()
    first = steps.merge_run_invoices(run_id)
    with session_scope() as session:
        run = session.get(BillingRun, run_id)
        assert run is not None
        finished = run.finished_at
    # when a body of the same dispatch comes again (the merge ahead recorded it, or a
    # redelivered body message)
    again = steps.merge_run_invoices(run_id)
    # then it merges and records nothing again
    assert again == first
    with session_scope() as session:
        run = session.get(BillingRun, run_id)
        assert run is not None and run.finished_at == finished


def ahead_pid(run_id: int) -> int | None:
    """The process merging the run ahead (its lease's token names it), or None."""
    holder, _ = lease_of(run_id)
    if holder is None or not holder.startswith("ahead:"):
        return None
    return int(holder.split(":")[2])


def pending_of(run_id: int) -> int:
    with session_scope() as session:
        return len(
            session.scalars(
                select(Invoice.id).where(Invoice.run_id == run_id, Invoice.status == InvoiceStatus.PENDING)
            ).all()
        )


@contextmanager
def rows_locked(database_url: str, run_id: int, first: int, last: int) -> Iterator[None]:
    """Inside, the run's invoices `first` to `last` (by seq) cannot be recorded: their
    batch waits for the row locks (PostgreSQL), while every other batch goes on."""
    engine = create_engine(database_url)
    try:
        with engine.connect() as connection:
            connection.execute(
                text(
                    "SELECT id FROM invoices WHERE run_id = :run AND seq BETWEEN :first AND :last FOR UPDATE"
                ),
                {"run": run_id, "first": first, "last": last},
            )
            yield
            connection.rollback()
    finally:
        engine.dispose()


@pytest.mark.slow
def test_killing_the_merging_worker_mid_way_loses_nothing(
    pg_env: Env, workers: Workers, tmp_path: Path
) -> None:
    # given a run of 300 in batches of 10 whose second batch cannot record its invoices
    env = workers.env
    generate(env, 300)
    run_id = run_json(env, "--period", "2026-10", "--no-wait", INVOICING_BATCH_SIZE="10")["run_id"]
    with rows_locked(env.vars["INVOICING_DATABASE_URL"], run_id, 11, 20):
        workers.start(count=1, concurrency=2)
        # and every other batch done: the merge ahead merged the first and waits at the gap
        assert wait_until(lambda: pending_of(run_id) == 10, 240), workers.log_text()[-3000:]
        assert wait_until(lambda: ahead_pid(run_id) is not None, 60), workers.log_text()[-3000:]
        # when the pool process merging it is killed mid-way
        pid = ahead_pid(run_id)
        assert pid is not None
        os.kill(pid, signal.SIGKILL)
    # then the run completes, every invoice once, the merged file the bytes of merging
    # every invoice file, and nobody holds its lease
    status = wait_for_final_status(env, run_id, 240, workers.log_text)
    assert status["status"] == "completed", status
    summary = summary_of(status)
    assert_run_consistent(summary, 300)
    assert_same_as_parsing_every_file(summary, tmp_path)
    assert lease_of(run_id) == (None, None)


def test_a_merge_that_fails_is_reported_and_retry_merges_it_with_workers(workers: Workers) -> None:
    # given a folder where the merged file must go: the merge ahead and the body both fail
    env = workers.env
    seed_fixtures(env)
    with merged_file_blocked(env.vars["INVOICING_OUTPUT_DIR"], "2026-10", 1):
        workers.start(count=1, concurrency=2)
        failed = run_json(env, "--period", "2026-10", expect=1, INVOICING_BATCH_SIZE="5")
        assert failed["status"] == "failed" and failed["output"] is None
        status = status_of(env, failed["run_id"])
        assert status["error"].startswith("merge failed: cannot write") and status["rendered"] == 19
        assert "billing run 1: merge ahead failed" in workers.log_text()
    # when the folder is gone and the run retried
    proc = env.cli("retry", "1", "--json")
    # then it is merged once, every invoice in it
    assert proc.returncode == 0, proc.stderr
    fixed = json.loads(proc.stdout)
    assert fixed["status"] == "completed"
    assert_run_consistent(fixed, 19)
    assert lease_of(1) == (None, None)
