"""The transient-error policy, in one place: which errors are worth retrying, how long to
wait between tries, and the base task class that applies both.

Transient means the database, Redis or the S3 server went away or is busy (connection
refused or reset, timeouts, 5xx, SlowDown; storage/s3.py classifies them): trying again later can
succeed. Anything else (bad data, a rendering bug, a full disk) is permanent; the steps
record it on the invoice and go on, and use `is_transient` only to let a transient error
out of a batch so that the task retries it.
"""

from __future__ import annotations

import logging
import random
import sys
from collections.abc import Callable
from typing import Any

from celery import Task
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError

from invoicing.celery import app
from invoicing.run.arguments import RefusedArguments
from invoicing.storage.errors import StorageError

log = logging.getLogger(__name__)

_DATABASE_ERRORS: tuple[type[BaseException], ...] = (OperationalError, InterfaceError)


def _redis_errors() -> tuple[type[BaseException], ...]:
    # Only a process that talks to Redis has loaded its client, and only such a process
    # meets its errors: the embedded mode never imports it (0.1 s of every command).
    exceptions = sys.modules.get("redis.exceptions")
    if exceptions is None:
        return ()
    return (exceptions.ConnectionError, exceptions.TimeoutError)


def is_transient(exc: BaseException) -> bool:
    if isinstance(exc, DBAPIError) and exc.connection_invalidated:
        return True
    if isinstance(exc, StorageError):
        return exc.transient
    return isinstance(exc, (*_DATABASE_ERRORS, *_redis_errors()))


def backoff(retries: int) -> float:
    """1, 2, 4 ... 64 seconds, jittered so retrying workers don't stampede."""
    return min(2**retries, 64) * (0.5 + random.random() / 2)


class RunTask(Task):
    """Base of the billing run's tasks (`base=RunTask`): the one place that decides
    whether a task that failed runs again."""

    def retry_transient(self, exc: BaseException, what: str) -> str | None:
        """A transient `exc` retries the task later (raises celery's Retry) while retries
        remain, and once they ran out returns how many were tried; a permanent one
        returns None. Either way the caller then deals with `exc` itself."""
        if not is_transient(exc):
            return None
        if self.request.retries < self.max_retries:
            log.warning("%s: transient error, retrying: %s", what, exc)
            raise self.retry(exc=exc, countdown=backoff(self.request.retries)) from None
        return f"gave up after {self.request.retries} retries"


HARD_LIMIT_AFTER_S = 100  # a task past its soft time limit is killed this much later


def run_task(name: str, max_retries: int, soft_time_limit: int) -> Callable[[Callable[..., Any]], Any]:
    """The decorator of a task that works through invoices (a render batch, the merge, an
    e-mail batch): bound, so that `RunTask.retry_transient` can retry it `max_retries`
    times; a soft time limit, and the kill HARD_LIMIT_AFTER_S after it; and refused
    arguments (a forged message, `run.arguments`) an expected outcome, never retried."""
    decorator: Callable[[Callable[..., Any]], Any] = app.task(
        bind=True,
        base=RunTask,
        name=name,
        max_retries=max_retries,
        soft_time_limit=soft_time_limit,
        time_limit=soft_time_limit + HARD_LIMIT_AFTER_S,
        throws=(RefusedArguments,),
    )
    return decorator
