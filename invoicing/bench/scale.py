"""The bench at scale: on a database the user names, and what its figures say of
1,000,000 subscribers on more worker processes than this machine has.

The projection takes the serial parts as the bench measured them and scales each with
what it does:
- issuing, one transaction of set-based statements over the subscribers: per subscriber;
- dispatching, which reads no ids (`dispatch.run_ranges`) and sends the header tasks in
  Redis pipelines: per header task, as many as `batch_size` cuts the run into on W
  processes (per subscriber it would charge a run of 2,000 invoices' 16 tasks 500 times);
- rendering, the workers' CPU per invoice all in, shared by W processes each on a core
  of its own: it assumes the database, Redis and the storage keep up, which one machine
  cannot show;
- the merge, one thread linking the invoices in number order as they commit: its own
  CPU (the bench counts the merging thread's) per subscriber. It overlaps the rendering,
  so the run waits for whichever of the two is slower: on many processes the one merging
  thread, not the workers;
- the merge's tail, from the header's last batch to the run's end (the file's end, the
  records): per subscriber, an upper bound.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

from invoicing.config import Settings, redact
from invoicing.errors import UsageError

TARGET_SUBSCRIBERS = 1_000_000
PROJECTED_PROCESSES = (8, 32, 128)


@dataclass(frozen=True)
class Projection:
    """A run of `subscribers` on `processes` worker processes, part by part, in seconds."""

    subscribers: int
    processes: int
    issue_s: float
    dispatch_s: float
    render_s: float
    merge_s: float
    merge_tail_s: float

    @property
    def total_s(self) -> float:
        """The serial parts, the slower of rendering and the merge that overlaps it, the tail."""
        return self.issue_s + self.dispatch_s + max(self.render_s, self.merge_s) + self.merge_tail_s

    def as_dict(self) -> dict[str, float]:
        parts = {key: round(value, 1) for key, value in asdict(self).items()}
        return parts | {"total_s": round(self.total_s, 1)}


def project(
    subscribers: int,
    workers: int,
    issue_s: float,
    dispatch_s: float,
    worker_cpu_s: float,
    merge_cpu_s: float,
    merge_tail_s: float,
    settings: Settings,
    target: int = TARGET_SUBSCRIBERS,
    processes: tuple[int, ...] = PROJECTED_PROCESSES,
) -> list[Projection]:
    """`target` subscribers on each of `processes`, from a bench of `subscribers` on
    `workers` processes: its issue, dispatch and merge tail (`merge_tail_s`: from the last
    header batch's commit to the run's end), its workers' CPU and its merging thread's."""
    from invoicing.run.dispatch import batch_size

    def tasks(invoices: int, on: int) -> int:
        return math.ceil(invoices / batch_size(invoices, on, settings))

    per_subscriber = target / subscribers
    per_task = dispatch_s / tasks(subscribers, workers)
    return [
        Projection(
            subscribers=target,
            processes=count,
            issue_s=issue_s * per_subscriber,
            dispatch_s=per_task * tasks(target, count),
            render_s=worker_cpu_s * per_subscriber / count,
            merge_s=merge_cpu_s * per_subscriber,
            merge_tail_s=merge_tail_s * per_subscriber,
        )
        for count in processes
    ]


def refuse_filled(url: str) -> None:
    """UsageError (exit 2) if the database at `url` holds a row in any table: the bench
    fills it with generated subscribers and leaves them there, so it takes only an empty
    one (no tables, or this project's schema without rows)."""
    from sqlalchemy import inspect, literal_column, select, table
    from sqlalchemy.exc import OperationalError

    from invoicing.db import DatabaseError, describe, get_engine

    try:
        with get_engine(url).connect() as connection:
            names = sorted(set(inspect(connection).get_table_names()) - {"alembic_version"})
            filled = [
                name
                for name in names
                if connection.execute(select(literal_column("1")).select_from(table(name)).limit(1)).first()
            ]
    except OperationalError as exc:
        raise DatabaseError(f"cannot reach the database {redact(url)}: {describe(exc, url)}") from None
    if filled:
        shown = ", ".join(filled[:3]) + (f" and {len(filled) - 3} more" if len(filled) > 3 else "")
        raise UsageError(
            f"bench: the database {redact(url)} holds data (in {shown}); "
            "the bench fills the database it is given, so name an empty one"
        )
