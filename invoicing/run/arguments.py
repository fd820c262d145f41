"""What a task accepts, checked before it does any work.

A message on the broker is input from outside: whoever can write to Redis can send any
task any arguments, and a worker runs what it is sent. So each task checks its
arguments first and refuses with `RefusedArguments` (a ValueError, reported in the
task's result and logged as one line), having changed nothing. The tasks list it in
`throws=`, so Celery logs the refusal without a traceback and never retries it.
"""

from __future__ import annotations

import logging
import reprlib
from dataclasses import dataclass
from typing import Any, TypeGuard

from invoicing.billing import BillingError, Period
from invoicing.db import session_scope
from invoicing.models import BillingRun

log = logging.getLogger(__name__)

# Invoices in one render batch: INVOICING_BATCH_SIZE's own upper bound.
MAX_BATCH = 10_000


class RefusedArguments(ValueError):
    """A task was sent arguments it does not take; nothing was done."""


def refuse(task: str, reason: str) -> RefusedArguments:
    """The error to raise, logged first as the one line a reader of the worker log needs."""
    log.error("%s refused: %s", task, reason)
    return RefusedArguments(f"{task} refused: {reason}")


def is_int(value: object) -> TypeGuard[int]:
    """A JSON integer (not a bool, which Python counts as one, nor a float)."""
    return type(value) is int


def billing_period(task: str, value: Any) -> Period | None:
    """The period a task was asked to bill (None: the default, the previous month)."""
    if value is None:
        return None
    if not isinstance(value, str) or len(value) > 16:
        raise refuse(task, f"not a period (YYYY-MM): {reprlib.repr(value)}")
    try:
        # Period.parse holds every period to the years a billing run may name.
        return Period.parse(value)
    except BillingError as exc:
        raise refuse(task, str(exc)) from None


def existing_run(task: str, run_id: Any) -> int:
    """A run id that names a billing run in the database."""
    if not is_int(run_id) or run_id < 1:
        raise refuse(task, f"not a run id: {reprlib.repr(run_id)}")
    with session_scope() as session:
        if session.get(BillingRun, run_id) is None:
            raise refuse(task, f"no billing run {run_id}")
    return int(run_id)


def invoice_batch(task: str, batch: Any) -> list[int] | InvoiceRange:
    """A batch as dispatch makes them: 1 to MAX_BATCH positive invoice ids, or a range of
    one run's invoices, {"run_id": R, "first_id": A, "last_id": B}."""
    if isinstance(batch, dict):
        return _invoice_range(task, batch)
    return invoice_id_list(task, batch)


def invoice_id_list(task: str, batch: Any) -> list[int]:
    """A batch as a list of 1 to MAX_BATCH positive invoice ids (the e-mail batches)."""
    if not isinstance(batch, list) or not 1 <= len(batch) <= MAX_BATCH:
        size = len(batch) if isinstance(batch, list) else type(batch).__name__
        raise refuse(task, f"a batch is a list of 1 to {MAX_BATCH} invoice ids, got {size}")
    wrong = [i for i in batch if not is_int(i) or i < 1]
    if wrong:
        raise refuse(task, f"not an invoice id: {reprlib.repr(wrong[0])}")
    return list(batch)


@dataclass(frozen=True)
class InvoiceRange:
    """The invoices of run `run_id` with ids from `first_id` to `last_id` that are not
    rendered yet: how dispatch describes a batch, whatever its size (three numbers)."""

    run_id: int
    first_id: int
    last_id: int

    def as_message(self) -> dict[str, int]:
        return {"run_id": self.run_id, "first_id": self.first_id, "last_id": self.last_id}


def _invoice_range(task: str, batch: dict[Any, Any]) -> InvoiceRange:
    keys = ("run_id", "first_id", "last_id")
    if set(batch) != set(keys):
        got = reprlib.repr(list(batch))
        raise refuse(task, f"a range of invoices has exactly {', '.join(keys)}, got {got}")
    wrong = [key for key in keys if not is_int(batch[key]) or batch[key] < 1]
    if wrong:
        raise refuse(task, f"{wrong[0]} is not an id: {reprlib.repr(batch[wrong[0]])}")
    if batch["first_id"] > batch["last_id"]:
        raise refuse(task, f"an empty range of invoices: {batch['first_id']} to {batch['last_id']}")
    return InvoiceRange(batch["run_id"], batch["first_id"], batch["last_id"])
