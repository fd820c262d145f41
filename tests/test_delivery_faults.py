"""A worker process killed in the middle of a delivery, with real `celery worker`
processes on Redis and a real SMTP server: every invoice arrives exactly once, except the
one whose message was in DATA when the worker died, which arrives at most twice (the
window the README names)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.delivery import EMAIL, billed, number_of, status_delivery, use_smtp
from tests.support.envs import Env
from tests.support.runs import wait_until
from tests.support.smtp import Behaviour, SmtpServer
from tests.support.workers import Workers, child_pids

HELD = "a.smirnov@example.org"  # A-0009's: the second of the run's four e-mails


@pytest.fixture
def held_server() -> Iterator[SmtpServer]:
    server = SmtpServer(Behaviour(hold=HELD)).start()
    yield server
    server.stop()


@pytest.mark.slow
def test_a_worker_killed_in_data_sends_only_that_invoice_twice(
    redis_env: Env, workers: Workers, held_server: SmtpServer
) -> None:
    # given
    run = billed(redis_env, EMAIL)
    use_smtp(redis_env, held_server.url())
    workers.start(count=1, concurrency=1)
    redis_env.cli("deliver", str(run["run_id"]), "--no-wait", check=True)
    assert held_server.holding.wait(120), workers.log_text()[-3000:]
    # when
    workers.kill_pool_processes(child_pids(workers.procs[0].pid))
    held_server.released.set()
    # then
    assert wait_until(lambda: status_delivery(redis_env, run["run_id"])["counts"]["sent"] == 4, 120), (
        workers.log_text()[-3000:]
    )
    per_id = held_server.per_message_id()
    twice = [message_id for message_id, count in per_id.items() if count == 2]
    assert (sorted(per_id.values()), twice) == ([1, 1, 1, 2], [f"<{number_of('A-0009')}@northwind.example>"])
