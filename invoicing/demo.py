"""The chord as a smoke test: power(i, 2) for i in range(N) in the header, amass (their
sum) in the body; `invoicing demo` prints 285. With `--fail-at K` one header task
raises, and the body never runs: what a plain chord does, and why the billing run's
header tasks never raise for one bad invoice.

Task names are part of the queued messages: never rename one.
"""

from __future__ import annotations

import logging
import random
import time
from dataclasses import dataclass

from celery import chord
from celery.exceptions import TimeoutError as CeleryTimeoutError
from celery.result import AsyncResult, GroupResult

from invoicing.celery import app
from invoicing.run.runtime import unsubscribe

log = logging.getLogger(__name__)


@app.task(name="invoicing.power")
def power(value: int, expo: int, fail_at: int | None = None, delay: bool = False) -> int:
    if delay:
        time.sleep(random.randint(10, 100) / 100.0)
    if fail_at is not None and value == fail_at:
        raise ValueError(f"power({value}, {expo}) failed on purpose (--fail-at {fail_at})")
    return int(value**expo)


@app.task(name="invoicing.amass")
def amass(values: list[int]) -> int:
    total = sum(values)
    log.info("amass: sum of %d values is %d", len(values), total)
    return total


@dataclass(frozen=True)
class DemoResult:
    total: int | None
    failed_task: str | None = None
    error: str | None = None


def demo(count: int, fail_at: int | None, delay: bool, timeout: float = 120) -> DemoResult:
    """The classic chord: power(i, 2) for i in range(count) in the header, amass in the body."""
    result = chord(power.s(i, 2, fail_at, delay) for i in range(count))(amass.s())
    try:
        return DemoResult(int(result.get(timeout=timeout, interval=0.05, disable_sync_subtasks=False)))
    except CeleryTimeoutError:
        raise
    except Exception as exc:  # noqa: BLE001 - the header's own exception, re-raised by get()
        # get() re-raises the failed header task's exception (or a ChordError naming it).
        header = result.parent
        culprit = _failed_member(header) if isinstance(header, GroupResult) else None
        return DemoResult(None, culprit, f"{type(exc).__name__}: {exc}")
    finally:
        # get() stops waiting at the first failed header task, leaving the body and
        # the other members subscribed for AsyncResult.__del__ to drop at exit.
        unsubscribe(_chord_ids(result))


def _chord_ids(result: AsyncResult) -> list[str]:
    header = result.parent
    members = header.results if isinstance(header, GroupResult) else []
    return [result.id, *(member.id for member in members)]


def _failed_member(header: GroupResult) -> str | None:
    for member in header.results:
        if member.failed():
            return f"task {member.id}: {type(member.result).__name__}: {member.result}"
    return None
