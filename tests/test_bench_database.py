"""The bench on a database the caller names (an empty PostgreSQL database), beside its
throw-away SQLite file; one that holds subscribers is refused before anything is written."""

from __future__ import annotations

import pytest

from invoicing.bench import run_bench
from invoicing.errors import InvoicingError
from invoicing.models import Invoice
from tests.support.envs import Env
from tests.support.factories import generate
from tests.support.runs import count_rows


def test_the_bench_runs_on_an_empty_postgres_database(pg_env: Env, redis_env: Env) -> None:
    # given an empty PostgreSQL database
    url = pg_env.vars["INVOICING_DATABASE_URL"]
    # when the bench runs on it
    result = run_bench(20, 1, baseline=False, database_url=url)
    # then the run went through the workers and was issued and dispatched there
    assert (result.subscribers, result.issue_s > 0, result.dispatch_s > 0) == (20, True, True)


def test_the_bench_refuses_a_database_that_holds_subscribers(redis_env: Env) -> None:
    # given a database with subscribers
    generate(redis_env, 3)
    url = redis_env.vars["INVOICING_DATABASE_URL"]
    # when the bench is pointed at it
    with pytest.raises(InvoicingError, match=r"holds data \(in charges, plans, subscribers\)"):
        run_bench(5, 1, baseline=False, database_url=url)
    # then it refused before issuing anything
    assert count_rows(Invoice) == 0
