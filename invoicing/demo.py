"""The chord as a smoke test: power(i, 2) for i in range(N) in the header, amass (their
sum) in the body; `invoicing demo` prints 285. With `--fail-at K` one header task
raises, and the body never runs: what a plain chord does, and why the billing run's
header tasks never raise for one bad invoice.

Task names are part of the queued messages: never rename one.

Both tasks check what they are sent before computing (any writer to the broker can send
them anything) and carry a time limit. |value| <= 10^6 and 0 <= expo <= 64 hold the
demo's own calls (power(i, 2), i below `--count`'s 10,000) with room to play, and
bound the largest result at 10^384, 1,276 bits: microseconds to compute and a few
hundred bytes of JSON, where power(10^6, 10^9) would take a worker hours and gigabytes.
amass takes at most `--count`'s 10,000 values, each no larger than a power result.
"""

from __future__ import annotations

import logging
import random
import reprlib
import time
from dataclasses import dataclass

from celery import chord
from celery.exceptions import TimeoutError as CeleryTimeoutError
from celery.result import AsyncResult, GroupResult

from invoicing.celery import app
from invoicing.run.arguments import RefusedArguments, is_int, refuse
from invoicing.run.runtime import unsubscribe

log = logging.getLogger(__name__)

MAX_VALUE = 10**6
MAX_EXPO = 64
MAX_VALUES = 10_000
MAX_TERM = MAX_VALUE**MAX_EXPO
# Seconds: a power takes microseconds (plus --delay's second at most), amass of
# MAX_VALUES terms milliseconds. Enforced by prefork workers (the default); the
# embedded solo and thread pools cannot interrupt a task and ignore them.
POWER_LIMITS = {"soft_time_limit": 10, "time_limit": 15}
AMASS_LIMITS = {"soft_time_limit": 20, "time_limit": 30}


def check_power(value: object, expo: object, fail_at: object, delay: object) -> None:
    """Refuse what the demo never sends, before computing anything."""
    name = "invoicing.power"
    if not is_int(value) or not -MAX_VALUE <= value <= MAX_VALUE:
        raise refuse(name, f"value must be an integer within ±{MAX_VALUE:,}, got {reprlib.repr(value)}")
    if not is_int(expo) or not 0 <= expo <= MAX_EXPO:
        raise refuse(name, f"expo must be an integer from 0 to {MAX_EXPO}, got {reprlib.repr(expo)}")
    if fail_at is not None and not is_int(fail_at):
        raise refuse(name, f"fail_at must be an integer, got {reprlib.repr(fail_at)}")
    if not isinstance(delay, bool):
        raise refuse(name, f"delay must be true or false, got {reprlib.repr(delay)}")


def check_amass(values: object) -> list[int]:
    name = "invoicing.amass"
    if not isinstance(values, list) or len(values) > MAX_VALUES:
        size = len(values) if isinstance(values, list) else type(values).__name__
        raise refuse(name, f"values must be a list of at most {MAX_VALUES:,} integers, got {size}")
    wrong = [v for v in values if not is_int(v) or not -MAX_TERM <= v <= MAX_TERM]
    if wrong:
        raise refuse(
            name,
            f"each value must be an integer within ±{MAX_VALUE:,}^{MAX_EXPO}, got {reprlib.repr(wrong[0])}",
        )
    return values


@app.task(name="invoicing.power", throws=(RefusedArguments,), **POWER_LIMITS)
def power(value: int, expo: int, fail_at: int | None = None, delay: bool = False) -> int:
    check_power(value, expo, fail_at, delay)
    if delay:
        time.sleep(random.randint(10, 100) / 100.0)
    if fail_at is not None and value == fail_at:
        raise ValueError(f"power({value}, {expo}) failed on purpose (--fail-at {fail_at})")
    return int(value**expo)


@app.task(name="invoicing.amass", throws=(RefusedArguments,), **AMASS_LIMITS)
def amass(values: list[int]) -> int:
    total = sum(check_amass(values))
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
