"""Tasks check what they are sent before doing any work: a forged message on the broker
is refused with a clear error in its result and one line in the worker's log, changes
nothing, and the worker goes on serving."""

from __future__ import annotations

from typing import Any

import pytest

from invoicing.demo import AMASS_LIMITS, MAX_VALUES, POWER_LIMITS, amass, power
from invoicing.models import BillingRun, Invoice
from invoicing.run.arguments import RefusedArguments
from tests.support.factories import seed_fixtures
from tests.support.runs import count_rows
from tests.support.workers import Workers

RESULT_S = 60  # only stops a hang: a refusal answers at once


@pytest.mark.parametrize(
    ("args", "reason"),
    [
        ((10**6, 10**9), "expo must be an integer from 0 to 64"),
        ((10**6 + 1, 2), "value must be an integer within ±1,000,000"),
        ((-(10**7), 2), "value must be an integer within ±1,000,000"),
        ((3, -1), "expo must be"),
        ((2.5, 2), "value must be an integer"),
        ((True, 2), "value must be an integer"),
        (("9", 2), "value must be an integer"),
        ((3, 2, "x"), "fail_at must be an integer"),
        ((3, 2, None, "yes"), "delay must be true or false"),
    ],
)
def test_power_refuses_what_the_demo_never_sends(args: tuple[Any, ...], reason: str) -> None:
    with pytest.raises(RefusedArguments, match=reason):
        power(*args)


def test_power_computes_at_its_bounds() -> None:
    assert power(-(10**6), 64) == 10**384


@pytest.mark.parametrize(
    ("values", "reason"),
    [
        ([1] * (MAX_VALUES + 1), "a list of at most 10,000 integers, got 10001"),
        ([1, 10**385], "each value must be an integer"),
        ([1, 2.5], "each value must be an integer"),
        ({"a": 1}, "a list of at most"),
    ],
)
def test_amass_refuses_what_no_header_produces(values: Any, reason: str) -> None:
    with pytest.raises(RefusedArguments, match=reason):
        amass(values)


def test_the_demo_tasks_have_time_limits() -> None:
    assert (power.soft_time_limit, power.time_limit) == (
        POWER_LIMITS["soft_time_limit"],
        POWER_LIMITS["time_limit"],
    )
    assert (amass.soft_time_limit, amass.time_limit) == (
        AMASS_LIMITS["soft_time_limit"],
        AMASS_LIMITS["time_limit"],
    )


def _logged_refusal(workers: Workers, name: str, reason: str) -> bool:
    """The worker's log has the task's one ERROR line naming the refusal."""
    return any(
        "ERROR" in line and f"{name} refused: " in line and reason in line
        for line in workers.log_text().splitlines()
    )


def _alive(workers: Workers) -> bool:
    """The worker process is still there and computes an ordinary power."""
    from invoicing.celery import app

    answer = app.send_task("invoicing.power", args=[4, 2]).get(timeout=RESULT_S)
    return answer == 16 and all(proc.poll() is None for proc in workers.procs)


@pytest.mark.parametrize(
    ("name", "args", "reason"),
    [
        ("invoicing.power", [10**6, 10**9], "expo must be an integer from 0 to 64"),
        ("invoicing.power", [10**12, 64], "value must be an integer within"),
        ("invoicing.amass", [list(range(MAX_VALUES + 1))], "at most 10,000 integers"),
    ],
)
def test_a_forged_demo_message_is_refused_by_a_real_worker(
    workers: Workers, name: str, args: list[Any], reason: str
) -> None:
    from invoicing.celery import app

    # given a worker as a user starts it
    workers.env.invoke("db", "init")  # a worker refuses a database without the schema
    workers.start(count=1, concurrency=1)
    # when a message the demo never sends arrives
    result = app.send_task(name, args=args)
    # then its result is the refusal, the log says so in one line, and the worker serves on
    with pytest.raises(ValueError, match=reason):
        result.get(timeout=RESULT_S)
    assert _logged_refusal(workers, name, reason)
    assert _alive(workers)


@pytest.mark.parametrize(
    ("period", "reason"),
    [
        ("9999-12", "from 2000-01 to 2099-12: '9999-12'"),
        ("2150-01", "from 2000-01 to 2099-12: '2150-01'"),
        ("2026-13", "not a period"),
        (202610, "not a period"),
        ("2026-10" * 1000, "not a period"),
    ],
)
def test_a_forged_billing_run_for_a_period_out_of_range_issues_nothing(
    workers: Workers, period: Any, reason: str
) -> None:
    from invoicing.celery import app

    # given subscribers billable in any month from 2026 on, and a worker
    seed_fixtures(workers.env)
    workers.start(count=1, concurrency=1)
    # when beat's task arrives with a period no billing team means
    result = app.send_task("invoicing.start_billing_run", args=[period])
    # then it is refused, no run and no invoice were made, and the worker serves on
    with pytest.raises(ValueError, match=reason):
        result.get(timeout=RESULT_S)
    assert (count_rows(BillingRun), count_rows(Invoice)) == (0, 0)
    assert _logged_refusal(workers, "invoicing.start_billing_run", reason)
    assert _alive(workers)


@pytest.mark.parametrize(
    ("name", "args", "reason"),
    [
        ("invoicing.merge_run", [424242], "no billing run 424242"),
        ("invoicing.merge_run", ["1; drop"], "not a run id"),
        ("invoicing.chord_failed", [None, None, None, 424242], "no billing run 424242"),
        ("invoicing.render_batch", [[]], "a batch is a list of 1 to 10000 invoice ids"),
        ("invoicing.render_batch", [[1, None]], "not an invoice id: None"),
        (
            "invoicing.render_batch",
            [{"run_id": 1, "first_id": 9, "last_id": 2}],
            "an empty range of invoices",
        ),
    ],
)
def test_a_forged_run_task_for_a_run_that_does_not_exist_changes_nothing(
    workers: Workers, name: str, args: list[Any], reason: str
) -> None:
    from invoicing.celery import app

    # given a database with subscribers and no run yet, and a worker
    seed_fixtures(workers.env)
    workers.start(count=1, concurrency=1)
    # when a run's task arrives for a run that is not there
    result = app.send_task(name, args=args)
    # then it is refused at once (no retries), nothing was made, and the worker serves on
    with pytest.raises(ValueError, match=reason):
        result.get(timeout=RESULT_S)
    assert (count_rows(BillingRun), count_rows(Invoice)) == (0, 0)
    assert _logged_refusal(workers, name, reason)
    assert _alive(workers)
