"""The merge ahead: a run's merge starts while its batches render (run/ahead.py), writes
what the body would write byte for byte, and never records a run it did not merge whole;
when it cannot finish, the body merges the run itself. Real Redis, real worker processes,
real SQLite files."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest
from sqlalchemy import select, update

from invoicing.config import get_settings
from invoicing.db import session_scope
from invoicing.models import BillingRun, Invoice, InvoiceStatus
from invoicing.run import ahead, lease, steps
from invoicing.run.state import aware
from tests.support.checks import assert_run_consistent, assert_same_as_parsing_every_file
from tests.support.envs import Env
from tests.support.factories import generate
from tests.support.runs import issue_run, run_json
from tests.support.workers import Workers


def dispatched_at(run_id: int):  # type: ignore[no-untyped-def]
    with session_scope() as session:
        run = session.get(BillingRun, run_id)
        assert run is not None and run.dispatched_at is not None
        return aware(run.dispatched_at)


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
    # and it was the merge ahead that merged and recorded it, for this dispatch
    assert lease.merged_ahead(summary["run_id"], dispatched_at(summary["run_id"]), get_settings())
    assert "merged ahead: completed" in workers.log_text()


def render_in_order(run_id: int, ids: list[int], order: list[int], size: int) -> None:
    """Commit the run's batches of `size` in the batch `order` given, a moment apart."""
    for index in order:
        time.sleep(0.3)
        steps.render_invoices(ids[index * size : (index + 1) * size])


def test_batches_committing_out_of_order_are_merged_in_number_order(redis_env: Env, tmp_path: Path) -> None:
    # given an issued run (19 invoices) whose merge ahead started before anything rendered
    run_id = issue_run(dispatched_at=dispatched_now())
    with session_scope() as session:
        ids = list(session.scalars(select(Invoice.id).where(Invoice.run_id == run_id).order_by(Invoice.seq)))
    settings = get_settings()
    held = lease.try_take(run_id, settings)
    assert held is not None
    seen: list[str] = []
    parts = ahead.ready_parts(run_id, held, dispatched_at(run_id), settings)
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


def dispatched_now():  # type: ignore[no-untyped-def]
    from datetime import UTC, datetime

    return datetime.now(UTC)


def test_a_merge_ahead_of_a_run_dispatched_again_gives_up_and_records_nothing(redis_env: Env) -> None:
    # given a run whose merge ahead waits for its batches
    run_id = issue_run(dispatched_at=dispatched_now())
    settings = get_settings()
    held = lease.try_take(run_id, settings)
    assert held is not None
    parts = ahead.ready_parts(run_id, held, dispatched_at(run_id), settings)
    # when the run is dispatched again (`retry`, the reconciler) before it finished
    with session_scope() as session:
        session.execute(update(BillingRun).values(dispatched_at=dispatched_now()))
    # then it stops: the new dispatch's body merges
    with pytest.raises(ahead.GaveUp, match="dispatched again"):
        next(parts)
    held.release()


def test_the_body_waits_out_a_dead_merge_ahead_then_merges_the_run_itself(redis_env: Env) -> None:
    # given a rendered run whose merge ahead died holding the lease (it expires in 1.5 s)
    run_id = issue_run(dispatched_at=dispatched_now())
    with session_scope() as session:
        ids = list(session.scalars(select(Invoice.id).where(Invoice.run_id == run_id)))
    steps.render_invoices(ids)
    settings = get_settings()
    client = lease.client_for(settings)
    assert client is not None
    key = f"{settings.redis_prefix or ''}invoicing:merge-lease:{run_id}"
    assert client.set(key, "a dead process's token", nx=True, px=1500)
    # when the body comes
    summary = steps.merge_run_invoices(run_id, settings)
    # then it waited for the lease and merged everything itself
    assert summary.status == "completed" and client.get(key) is None
    assert not lease.merged_ahead(run_id, dispatched_at(run_id), settings)
    with session_scope() as session:
        statuses = set(session.scalars(select(Invoice.status).where(Invoice.run_id == run_id)))
    assert statuses == {InvoiceStatus.RENDERED}
