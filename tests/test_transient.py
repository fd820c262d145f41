"""The transient-error policy: which errors are retried, how long the tasks wait, and
what the base task class does with a transient error, a permanent one, and retries
that ran out."""

from __future__ import annotations

import errno
from collections.abc import Iterator
from typing import Any

import pytest
import redis.exceptions
from celery import Celery
from sqlalchemy.exc import DBAPIError, IntegrityError, InterfaceError, OperationalError

from invoicing.pdf import MergeError, RenderError
from invoicing.run.transient import RunTask, backoff, is_transient


def db_error(kind: type[DBAPIError], invalidated: bool = False) -> DBAPIError:
    return kind("SELECT 1", {}, Exception("server closed the connection"), connection_invalidated=invalidated)


@pytest.mark.parametrize(
    "exc",
    [
        db_error(OperationalError),
        db_error(InterfaceError),
        db_error(DBAPIError, invalidated=True),
        redis.exceptions.ConnectionError("Connection refused"),
        redis.exceptions.TimeoutError("Timeout reading from socket"),
    ],
    ids=type,
)
def test_transient(exc: BaseException) -> None:
    assert is_transient(exc)


@pytest.mark.parametrize(
    "exc",
    [
        db_error(IntegrityError),
        db_error(DBAPIError),
        redis.exceptions.ResponseError("WRONGTYPE"),
        RenderError("unknown locale 'xx_XX'"),
        MergeError("not a PDF"),
        OSError(errno.ENOSPC, "No space left on device"),
        ValueError("bad data"),
    ],
    ids=type,
)
def test_permanent(exc: BaseException) -> None:
    assert not is_transient(exc)


@pytest.mark.parametrize("retries", range(10))
def test_backoff_doubles_to_a_minute_with_jitter(retries: int) -> None:
    ceiling = min(2**retries, 64)
    assert all(ceiling / 2 <= backoff(retries) <= ceiling for _ in range(50))


# --- RunTask, on an app of the test's own (run eagerly with apply(), retries too) ----------


@pytest.fixture
def app() -> Iterator[Celery]:
    app = Celery("transient-test", set_as_current=False)
    app.conf.task_store_eager_result = False
    yield app
    app.close()


def flaky_task(app: Celery, failures: list[BaseException]) -> tuple[Any, list[int]]:
    """A task that raises `failures` one by one and then succeeds; reports what it saw."""
    attempts: list[int] = []

    @app.task(bind=True, base=RunTask, max_retries=2, name="test.flaky", shared=False)
    def flaky(self: RunTask) -> str:
        attempts.append(self.request.retries)
        try:
            if failures:
                raise failures.pop(0)
        except Exception as exc:
            gave_up = self.retry_transient(exc, "flaky")
            return f"{gave_up or 'permanent'}: {exc}"
        return "done"

    return flaky, attempts


def test_a_transient_error_is_retried(app: Celery) -> None:
    # given a task that loses the database twice, then finds it again
    task, attempts = flaky_task(app, [db_error(OperationalError), db_error(OperationalError)])
    # when
    result = task.apply().get()
    # then
    assert result == "done" and attempts == [0, 1, 2]


def test_retries_run_out(app: Celery) -> None:
    # given a task that never finds the database again
    task, attempts = flaky_task(app, [db_error(OperationalError) for _ in range(5)])
    # when
    result = task.apply().get()
    # then the caller hears that it gave up, and why
    assert result.startswith("gave up after 2 retries: ") and attempts == [0, 1, 2]


def test_a_permanent_error_is_not_retried(app: Celery) -> None:
    # given a task whose data is bad
    task, attempts = flaky_task(app, [ValueError("bad data")])
    # when
    result = task.apply().get()
    # then
    assert result == "permanent: bad data" and attempts == [0]
