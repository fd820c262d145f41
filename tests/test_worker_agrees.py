"""Workers and the CLI agree on the database: a `celery -A invoicing worker` whose
database lacks the project's schema says so in one line and exits, and `run` with a
broker but no answering worker says what to start instead of waiting in silence."""

from __future__ import annotations

import sqlite3

import pytest

from invoicing.models import BillingRun, Invoice
from tests.support.envs import Env
from tests.support.factories import initialized, seed_fixtures
from tests.support.runs import count_rows
from tests.support.workers import Workers


def _refusal(workers: Workers) -> str:
    """The worker's own output once it exited: (its lines)."""
    with pytest.raises(AssertionError, match="worker exited with 1"):
        workers.start(count=1, concurrency=1)
    return workers.log_text().strip()


def test_worker_without_a_database_setting_exits_naming_what_to_do(workers: Workers) -> None:
    # given a worker started where the CLI's database is not, without INVOICING_DATABASE_URL
    elsewhere = workers.env.path / "elsewhere"
    elsewhere.mkdir()
    del workers.env.vars["INVOICING_DATABASE_URL"]
    # when
    with pytest.raises(AssertionError, match="worker exited with 1"):
        workers.start(count=1, concurrency=1, cwd=elsewhere)
    log = workers.log_text().strip()
    # then one line, naming the database and both fixes; no empty database left behind
    assert log.splitlines() == [
        f"invoicing worker: no database at {elsewhere / 'invoicing.db'} "
        "(INVOICING_DATABASE_URL=sqlite:///./invoicing.db): run `invoicing db init`, "
        "or set INVOICING_DATABASE_URL as the CLI has it"
    ]
    assert not (elsewhere / "invoicing.db").exists()


def test_worker_on_a_database_without_the_schema_exits(workers: Workers) -> None:
    # given a database file that holds something, but not the project's schema
    path = workers.env.path / "other.db"
    with sqlite3.connect(path) as connection:
        connection.execute("CREATE TABLE notes (text TEXT)")
    workers.env.vars["INVOICING_DATABASE_URL"] = f"sqlite:///{path}"
    # when
    log = _refusal(workers)
    # then
    assert log == (
        f"invoicing worker: the database sqlite:///{path} has no schema: run `invoicing db init`, "
        "or set INVOICING_DATABASE_URL as the CLI has it"
    )


def test_worker_on_an_older_schema_says_to_upgrade(workers: Workers) -> None:
    # given the database one migration behind
    env = workers.env
    initialized(env)
    with sqlite3.connect(env.path / "invoicing.db") as connection:
        connection.execute("UPDATE alembic_version SET version_num = '0001'")
    # when
    log = _refusal(workers)
    # then
    assert "is at schema revision 0001, this version needs " in log and "run `invoicing db init`" in log
    assert len(log.splitlines()) == 1


def test_worker_on_the_current_schema_starts(workers: Workers) -> None:
    # given
    initialized(workers.env)
    # when / then (start waits for the worker's "ready.")
    workers.start(count=1, concurrency=1)
    assert "invoicing worker:" not in workers.log_text()


def test_run_without_an_answering_worker_says_what_to_start(redis_env: Env) -> None:
    # given the fixtures and a broker that answers, but no worker on it
    seed_fixtures(redis_env)
    # when
    proc = redis_env.cli("run", "--period", "2026-10", timeout=60)
    # then at once: one line naming the command to start, exit 1, nothing issued
    assert proc.returncode == 1, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    queue = redis_env.vars["INVOICING_QUEUE"]
    assert "no worker answered on the broker redis://" in lines[0]
    assert f"nothing was issued; start one with `celery -A invoicing worker -Q {queue}`" in lines[0]
    assert count_rows(Invoice) == 0 and count_rows(BillingRun) == 0
