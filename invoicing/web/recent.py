"""Answers kept for a moment, computed once however many clients ask at the same time.

A run's page is what dashboards and scripts poll while the run renders: 200 clients
asking `GET /runs/{id}` back to back cost one `report()` each (11 ms of CPU at 2,000
invoices on this project's machine, 14 queries: failures, credits, late charges, skipped
subscribers, deliveries), about 15 answers a second on a core shared with the workers, and
12 s at the 50th percentile (`invoicing bench --api`). Kept for 250 ms (TTL_S) and
computed by one request while the others wait for it (single flight), the same clients
cost at most four reports a second. An answer is the database as it stood at most 250 ms
before the request, or during the computation under way when the request came.

With a TTL of 0 nothing is kept: only the requests that arrive while one computation runs
share it (the token check: deps.bearer_token).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Hashable
from typing import Any

from starlette.concurrency import run_in_threadpool

TTL_S = 0.25
KEPT = 1000  # entries before expired ones are dropped


class Recent:
    def __init__(self, ttl_s: float = TTL_S) -> None:
        self.ttl_s = ttl_s
        self.values: dict[Hashable, tuple[float, Any]] = {}
        self.pending: dict[Hashable, asyncio.Future[Any]] = {}

    async def get(self, key: Hashable, compute: Callable[[], Any]) -> Any:
        """`compute()`'s value for `key`, at most `ttl_s` old; `compute` runs in a thread,
        once for all the requests that ask while it runs. Its exception reaches them all."""
        held = self.values.get(key)
        if held is not None and held[0] > time.monotonic():
            return held[1]
        waiting = self.pending.get(key)
        if waiting is not None:
            return await asyncio.shield(waiting)
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self.pending[key] = future
        began = time.monotonic()
        try:
            value = await run_in_threadpool(compute)
        except BaseException as exc:
            future.set_exception(exc)
            future.exception()  # retrieved: nobody else may be waiting
            raise
        else:
            self._keep(key, value, began)
            future.set_result(value)
            return value
        finally:
            del self.pending[key]

    def forget(self, key: Hashable) -> None:
        """This server changed what `key` shows (a retry, a new run): the next asks anew."""
        self.values.pop(key, None)

    def _keep(self, key: Hashable, value: Any, began: float) -> None:
        """Kept until `ttl_s` after its computation began (it read the database after
        that): never answered more than `ttl_s` after, however long it took."""
        if self.ttl_s <= 0:
            return
        now = time.monotonic()
        if len(self.values) >= KEPT:
            self.values = {k: v for k, v in self.values.items() if v[0] > now}
        self.values[key] = (began + self.ttl_s, value)
