"""The HTTP API in production shape: `invoicing serve` on PostgreSQL, runs rendered by
real `celery worker` processes on Redis."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import httpx
import pytest
from sqlalchemy import update

from invoicing.db import session_scope
from invoicing.models import Subscriber
from tests.support.envs import Env
from tests.support.factories import seed_fixtures
from tests.support.server import Server, make_token, wait_for_run
from tests.support.workers import Workers


@pytest.fixture
def served(pg_env: Env, workers: Workers) -> Iterator[tuple[Server, str]]:
    """The fixtures on PostgreSQL, two worker processes, a server and a write token."""
    seed_fixtures(pg_env)
    workers.start(count=1, concurrency=2)
    token = make_token(pg_env, "erp", "write")
    server = Server(pg_env).start()
    yield server, token
    server.stop()


def test_two_requests_with_one_key_at_once_start_one_run_that_the_workers_complete(
    served: tuple[Server, str],
) -> None:
    # given two clients released together with one Idempotency-Key
    server, token = served
    barrier = threading.Barrier(2)
    answers: list[httpx.Response] = []

    def send() -> None:
        with server.client(token) as client:
            barrier.wait(timeout=30)
            answers.append(
                client.post("/runs", json={"period": "2026-10"}, headers={"Idempotency-Key": "oct"})
            )

    threads = [threading.Thread(target=send) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    started = {answer.json()["run_id"] for answer in answers if answer.status_code == 202}
    # when the run is finished
    with server.client(token) as client:
        final = wait_for_run(client, min(started))
        runs = client.get("/runs").json()["runs"]
    # then there is one run, complete, and the other request got it or 409
    assert sorted(a.status_code for a in answers) in ([202, 202], [202, 409]) and len(started) == 1
    assert ([r["run_id"] for r in runs], final["status"], final["invoices"]) == (
        [min(started)],
        "completed",
        19,
    )


def test_a_failed_invoice_is_retried_through_the_api(served: tuple[Server, str]) -> None:
    # given a run whose A-0003 failed (a locale nobody knows), then the data corrected
    server, token = served
    with session_scope() as session:
        session.execute(update(Subscriber).where(Subscriber.account == "A-0003").values(locale="xx_XX"))
    with server.client(token) as client:
        first = wait_for_run(client, client.post("/runs", json={"period": "2026-10"}).json()["run_id"])
        assert (first["status"], [f["account"] for f in first["failures"]]) == (
            "completed_with_errors",
            ["A-0003"],
        )
        with session_scope() as session:
            session.execute(update(Subscriber).where(Subscriber.account == "A-0003").values(locale="de_DE"))
        # when
        retried = client.post(f"/runs/{first['run_id']}/retry")
        final = wait_for_run(client, first["run_id"])
    # then
    assert (retried.status_code, retried.json()["dispatched"], final["status"], final["failed"]) == (
        202,
        1,
        "completed",
        0,
    )
