"""What `status` and `runs` show of a run's delivery: its e-mail invoices by state, and
the failed and bounced ones with their reasons."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from invoicing.db import session_scope
from invoicing.delivery import state
from invoicing.models import DeliveryState


def run_delivery(run_id: int) -> dict[str, Any]:
    """`status --json`'s "delivery": {"counts": {state: n}, "undelivered": [...]} (at
    most state.LISTED of them, in number order)."""
    with session_scope() as session:
        return {
            "counts": state.counts(session, run_id) or {s.value: 0 for s in DeliveryState},
            "undelivered": state.problems(session, run_id),
        }


def counts_of_runs(run_ids: Sequence[int]) -> dict[int, dict[str, int]]:
    """Each run's e-mail invoices by state (zeros for a run with none), for `runs --json`."""
    zero = {s.value: 0 for s in DeliveryState}
    with session_scope() as session:
        return {run_id: state.counts(session, run_id) or dict(zero) for run_id in run_ids}
