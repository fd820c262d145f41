"""The stall rule: when an open run counts as abandoned (so `retry` and the reconciler may
take it over), and when a failed one can still be finished."""

from __future__ import annotations

import socket
import subprocess
import sys
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select, update

from invoicing.config import Settings, get_settings
from invoicing.db import session_scope
from invoicing.models import BillingRun, Invoice, InvoiceStatus, RunStatus
from invoicing.run.state import embedded_owner_alive, identity, is_stalled, last_activity
from tests.support.envs import Env
from tests.support.runs import issue_run

STALL_AFTER = 600


def settings() -> Settings:
    return get_settings().model_copy(update={"stall_after_s": STALL_AFTER})


def stalled(run_id: int) -> bool:
    with session_scope() as session:
        run = session.get(BillingRun, run_id)
        assert run is not None
        return is_stalled(session, run, settings())


def age(run_id: int, seconds: float) -> None:
    """Move every moment of the run and its invoices `seconds` into the past."""
    then = datetime.now(UTC) - timedelta(seconds=seconds)
    with session_scope() as session:
        session.execute(
            update(BillingRun).where(BillingRun.id == run_id).values(created_at=then, dispatched_at=then)
        )
        session.execute(
            update(Invoice)
            .where(Invoice.run_id == run_id, Invoice.rendered_at.is_not(None))
            .values(rendered_at=then)
        )


def dead_pid() -> int:
    proc = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True
    )
    return int(proc.stdout)


def test_a_run_with_recent_progress_is_not_stalled(env: Env) -> None:
    # given a rendering run dispatched to Celery workers a moment ago
    run_id = issue_run(dispatched_by="celery:elsewhere", dispatched_at=datetime.now(UTC))
    # then
    assert not stalled(run_id)


def test_a_run_without_progress_for_the_stall_time_is_stalled(env: Env) -> None:
    # given a rendering run whose last sign of work is older than the stall time
    run_id = issue_run(dispatched_by="celery:elsewhere")
    age(run_id, STALL_AFTER + 5)
    # then
    assert stalled(run_id)


def test_one_rendered_invoice_is_progress(env: Env) -> None:
    # given an old run, but one of its invoices was rendered just now
    run_id = issue_run(dispatched_by="celery:elsewhere")
    age(run_id, STALL_AFTER + 5)
    now = datetime.now(UTC)
    with session_scope() as session:
        first = session.scalar(select(Invoice.id).where(Invoice.run_id == run_id).order_by(Invoice.seq))
        session.execute(
            update(Invoice).where(Invoice.id == first).values(status=InvoiceStatus.RENDERED, rendered_at=now)
        )
    # when
    with session_scope() as session:
        run = session.get(BillingRun, run_id)
        assert run is not None
        latest = last_activity(session, run)
    # then
    assert latest == now
    assert not stalled(run_id)


def test_an_embedded_run_whose_process_is_gone_is_stalled_at_once(env: Env) -> None:
    # given a run dispatched by an embedded worker in a process that has exited
    owner = f"embedded:{socket.gethostname()}:{dead_pid()}"
    run_id = issue_run(dispatched_by=owner, dispatched_at=datetime.now(UTC))
    # then: no need to wait for the stall time
    assert not embedded_owner_alive(owner)
    assert stalled(run_id)


@pytest.mark.parametrize("owner", ["this process", "embedded:another-host:1"])
def test_an_embedded_run_of_a_living_process_or_another_host_waits_for_the_stall_time(
    env: Env, owner: str
) -> None:
    # given a run dispatched just now by this very process, or by one on another host
    if owner == "this process":
        owner = identity(get_settings())
        assert owner.startswith("embedded:")
    run_id = issue_run(dispatched_by=owner, dispatched_at=datetime.now(UTC))
    # then: alive or cannot tell, so only the stall time counts
    assert embedded_owner_alive(owner)
    assert not stalled(run_id)
    age(run_id, STALL_AFTER + 5)
    assert stalled(run_id)


@pytest.mark.parametrize("status", [RunStatus.COMPLETED, RunStatus.COMPLETED_WITH_ERRORS])
def test_a_finished_run_is_never_stalled(env: Env, status: RunStatus) -> None:
    # given a finished run, long ago, by a process that is gone
    owner = f"embedded:{socket.gethostname()}:{dead_pid()}"
    run_id = issue_run(status=status, output_path="/x.pdf", dispatched_by=owner)
    age(run_id, STALL_AFTER * 10)
    # then
    assert not stalled(run_id)


def test_a_failed_merge_with_rendered_invoices_is_stalled_so_retry_can_merge(env: Env) -> None:
    # given a run that failed in the merge: no merged file, but invoices rendered
    run_id = issue_run(status=RunStatus.FAILED, output_path=None, error="merge failed: disk full")
    with session_scope() as session:
        session.execute(update(Invoice).values(status=InvoiceStatus.RENDERED, rendered_at=datetime.now(UTC)))
    # then: stalled at once, whatever the time
    assert stalled(run_id)


def test_a_run_whose_every_invoice_failed_is_not_stalled(env: Env) -> None:
    # given a failed run with no merged file because nothing rendered
    run_id = issue_run(status=RunStatus.FAILED, output_path=None, error="every invoice failed")
    with session_scope() as session:
        session.execute(update(Invoice).values(status=InvoiceStatus.FAILED, rendered_at=datetime.now(UTC)))
    age(run_id, STALL_AFTER * 10)
    # then: nothing to merge; only a person fixing the data and retrying helps
    assert not stalled(run_id)
