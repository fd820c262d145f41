"""Dispatching a run: batch sizes, and every way `resume` (a second `run`, `retry`, the
reconciler) can go. Real SQLite database and output folder; the chords run on the
embedded worker in this process."""

from __future__ import annotations

import base64
import json
import math
import socket
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest
import redis
from sqlalchemy import select, update

from invoicing.billing import Period
from invoicing.celery import configure
from invoicing.config import Settings, get_settings
from invoicing.db import session_scope
from invoicing.models import BillingRun, Invoice, InvoiceStatus
from invoicing.run.arguments import MAX_BATCH, InvoiceRange
from invoicing.run.dispatch import (
    MAX_TASKS,
    RunBusy,
    Started,
    batch_size,
    batches,
    dispatch_run,
    resume,
    start_or_resume,
)
from invoicing.run.report import progress, report
from invoicing.run.runtime import workers
from invoicing.run.state import FINAL
from invoicing.run.steps import RENDER_CHUNK, invoices_in, render_chunked
from tests.support.envs import Env, reset_settings
from tests.support.runs import import_fixtures, invoices_of, issue_run
from tests.support.workers import PrivateRedis

OCTOBER = Period(2026, 10)
REDIS = Settings(_env_file=None, broker_url="redis://127.0.0.1:6379/0")
EMBEDDED = Settings(_env_file=None)

# --- batch sizes ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("invoices", "workers_", "expected"),
    [
        (100, 2, 7),  # about eight batches per worker process: ceil(100 / 16)
        (3, 8, 1),  # never less than one invoice a batch
        (100, 0, 13),  # no worker answered yet: sized for one
        (2000, 2, RENDER_CHUNK),  # twenty tasks of one chunk each, ten per worker process
        (100_000, 2, 1563),  # a large run: at most 32 tasks per worker process
        (1_000_000, 64, 1000),  # and at most 1,000 in all
        (1_000_000, 128, 977),  # but never fewer than 8 per process
        (1_000_000, 2, MAX_BATCH),  # nor tasks of more than MAX_BATCH invoices
    ],
)
def test_batch_size_from_run_size_and_workers(invoices: int, workers_: int, expected: int) -> None:
    # when
    size = batch_size(invoices, workers_, REDIS)
    # then
    assert size == expected


def test_batch_size_setting_wins() -> None:
    # given
    settings = REDIS.model_copy(update={"batch_size": 7})
    # then
    assert batch_size(10_000, 2, settings) == batch_size(3, 64, settings) == 7


@pytest.mark.parametrize("setting", [0, 1])
def test_embedded_header_stays_within_the_in_memory_result_cache(setting: int) -> None:
    # given a run far larger than the embedded result backend (Celery's cache+memory: an
    # LRU that evicts results past its limit, so a larger chord would never complete)
    from celery.backends.cache import DummyClient

    limit = DummyClient().cache.limit
    settings = EMBEDDED.model_copy(update={"batch_size": setting})
    invoices = 120_000
    # when
    size = batch_size(invoices, 64, settings)
    # then its header has fewer tasks than the LRU holds results
    assert len(batches(range(invoices), size)) <= MAX_TASKS < limit
    assert size == math.ceil(invoices / MAX_TASKS)


def test_batches_keep_order_and_cover_every_id_once() -> None:
    # when
    chunks = batches(list(range(1, 11)), 4)
    # then
    assert chunks == [[1, 2, 3, 4], [5, 6, 7, 8], [9, 10]]


def test_a_task_of_several_chunks_commits_and_pre_links_each_apart(env: Env) -> None:
    # given the fixtures' run of 19 invoices, a header task's worth for a chunk of 5
    run_id = issue_run()
    ids = [invoice.id for invoice in invoices_of(run_id)]
    fragments = env.path / "output" / "2026-10" / ".prelinked"
    # when the first two chunks are rendered
    outcomes = render_chunked(ids[:10], chunk=5)
    # then they are committed: a retry of the task's range would render only the rest
    assert [o.status for o in outcomes] == ["rendered"] * 10
    assert invoices_in(InvoiceRange(run_id, min(ids), max(ids))) == ids[10:]
    # and each chunk is pre-linked in a file of its own, as a task of one chunk was
    assert len(list(fragments.glob("*.frag"))) == 2
    render_chunked(ids[10:], chunk=5)
    assert len(list(fragments.glob("*.frag"))) == 4
    assert {row[0] for row in invoice_rows(run_id).values()} == {"rendered"}


# --- resume --------------------------------------------------------------------------------


def wait_until_final(run_id: int, timeout: float = 120) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status, _, _ = progress(run_id)
        if status in {s.value for s in FINAL}:
            return status
        time.sleep(0.1)
    raise AssertionError(f"run {run_id} still {status} after {timeout} s")


def completed_run() -> int:
    import_fixtures()
    with workers(get_settings()) as available:
        started = start_or_resume(OCTOBER, workers=available)
        assert wait_until_final(started.run_id) == "completed"
    return started.run_id


def resume_with_workers(run_id: int, **kwargs: bool) -> tuple[Started, str]:
    with workers(get_settings()) as available:
        started = resume(run_id, workers=available, **kwargs)
        return started, wait_until_final(run_id)


def invoice_rows(run_id: int) -> dict[str, tuple[str, str | None, datetime | None]]:
    with session_scope() as session:
        rows = session.execute(
            select(Invoice.number, Invoice.status, Invoice.sha256, Invoice.rendered_at).where(
                Invoice.run_id == run_id
            )
        )
        return {number: (status.value, sha, rendered_at) for number, status, sha, rendered_at in rows}


def run_row(run_id: int) -> tuple[str, datetime | None, str | None, str | None]:
    with session_scope() as session:
        run = session.get(BillingRun, run_id)
        assert run is not None
        return run.status.value, run.dispatched_at, run.output_path, run.sha256


def test_resume_attaches_to_a_run_someone_is_working_on(env: Env) -> None:
    # given a run a Celery worker is rendering right now
    run_id = issue_run(dispatched_by="celery:elsewhere", dispatched_at=datetime.now(UTC))
    before = run_row(run_id), invoice_rows(run_id)
    # when a second `invoicing run` for the period comes along
    started = start_or_resume(OCTOBER)
    # then it follows that run and sends nothing
    assert (started.run_id, started.action, started.dispatched) == (run_id, "attached", 0)
    assert (run_row(run_id), invoice_rows(run_id)) == before


def test_retry_of_a_run_someone_is_working_on_is_refused(env: Env) -> None:
    # given a run a Celery worker is rendering right now
    run_id = issue_run(dispatched_by="celery:elsewhere", dispatched_at=datetime.now(UTC))
    before = run_row(run_id), invoice_rows(run_id)
    # when
    with pytest.raises(RunBusy, match=r"is still rendering \(last progress \d+ s ago\); wait for it"):
        resume(run_id, busy_is_error=True)
    # then
    assert (run_row(run_id), invoice_rows(run_id)) == before


def test_resume_of_a_complete_run_changes_nothing(env: Env) -> None:
    # given a completed run whose files are all intact
    run_id = completed_run()
    before = run_row(run_id), invoice_rows(run_id)
    # when
    started = resume(run_id, busy_is_error=True)
    # then
    assert (started.action, started.dispatched, started.invoices) == ("complete", 0, 19)
    assert (run_row(run_id), invoice_rows(run_id)) == before


def test_resume_renders_only_the_missing_and_failed_invoices(env: Env) -> None:
    # given a completed run, one invoice's file lost and another marked failed
    run_id = completed_run()
    with session_scope() as session:
        first, second = session.scalars(
            select(Invoice).where(Invoice.run_id == run_id).order_by(Invoice.seq).limit(2)
        ).all()
        Path(str(first.pdf_path)).unlink()
        second.status, second.error = InvoiceStatus.FAILED, "unknown locale"
        redo = {first.number, second.number}
    before = invoice_rows(run_id)
    # when
    started, final = resume_with_workers(run_id, busy_is_error=True)
    # then those two are rendered again, to the same bytes; the others are untouched
    assert (started.action, started.dispatched, final) == ("resumed", 2, "completed")
    after = invoice_rows(run_id)
    assert {n for n in before if after[n][2] != before[n][2]} == redo
    assert {n: row[:2] for n, row in after.items()} == {n: ("rendered", row[1]) for n, row in before.items()}
    assert report(run_id).failed == 0


def test_resume_with_every_invoice_rendered_only_merges_again(env: Env) -> None:
    # given a completed run whose merged file was lost
    run_id = completed_run()
    _, _, output, sha256 = run_row(run_id)
    Path(str(output)).unlink()
    before = invoice_rows(run_id)
    # when
    started, final = resume_with_workers(run_id)
    # then the same file is back, and no invoice was rendered again
    assert (started.action, started.dispatched, final) == ("merging", 0, "completed")
    assert run_row(run_id)[2:] == (output, sha256) and Path(str(output)).is_file()
    assert invoice_rows(run_id) == before


def test_resume_takes_over_a_stalled_run(env: Env) -> None:
    # given a run whose embedded worker died with the process that dispatched it
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True)
    run_id = issue_run(dispatched_by=f"embedded:{socket.gethostname()}:{int(dead.stdout)}")
    with session_scope() as session:
        session.execute(update(BillingRun).values(dispatched_at=datetime.now(UTC)))
    # when `invoicing retry` comes along
    started, final = resume_with_workers(run_id, busy_is_error=True)
    # then it renders the whole run
    assert (started.action, started.dispatched, final) == ("resumed", 19, "completed")


# --- publishing the header -----------------------------------------------------------------


def test_the_header_goes_out_in_one_pipeline_and_names_every_invoice_once(
    private_redis: PrivateRedis, monkeypatch: pytest.MonkeyPatch
) -> None:
    # given the fixtures' run of 19 invoices, one invoice a batch, and no worker yet
    monkeypatch.setenv("INVOICING_BATCH_SIZE", "1")
    reset_settings()
    configure()
    run_id = issue_run()
    ids = sorted(invoice.id for invoice in invoices_of(run_id))
    flushes: list[list[str]] = []  # the Redis commands of each pipeline sent, as sent
    execute = redis.client.Pipeline.execute

    def watched(pipe: redis.client.Pipeline, raise_on_error: bool = True) -> list[object]:
        flushes.append([str(command[0][0]) for command in pipe.command_stack])
        return execute(pipe, raise_on_error)

    monkeypatch.setattr(redis.client.Pipeline, "execute", watched)
    # when the run is dispatched
    body_id = dispatch_run(run_id, workers=2, settings=get_settings())
    monkeypatch.undo()
    # then its 19 messages (and their task-sent events) went out in one pipeline
    pushes = [flush.count("LPUSH") for flush in flushes]
    assert [count for count in pushes if count] == [19], flushes
    # and the queue holds them: one range each, every invoice in exactly one of them
    client = private_redis.client()
    messages = [json.loads(raw) for raw in client.lrange("invoicing", 0, -1)]
    ranges = [json.loads(base64.b64decode(m["body"]))[0][0] for m in messages]
    assert sorted((r["first_id"], r["last_id"]) for r in ranges) == [(i, i) for i in ids]
    assert {r["run_id"] for r in ranges} == {run_id}
    # and each is a part of one chord of 19 whose body is the run's merge
    headers = [m["headers"] for m in messages]
    assert len({h["group"] for h in headers}) == 1
    assert int(client.get(f"celery-taskset-meta-{headers[0]['group']}.s") or 0) == 19
    body = json.loads(base64.b64decode(messages[0]["body"]))[2]["chord"]
    assert (body["task"], body["args"], body["options"]["task_id"]) == (
        "invoicing.merge_run",
        [run_id],
        body_id,
    )
