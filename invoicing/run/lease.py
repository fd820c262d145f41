"""Who merges a run now: a lease in Redis, held by the merge that runs ahead of the body
(`ahead`) or by the body itself, so a run's output is written and recorded by one of them
at a time.

A lease is a key with a random token and a time to live; its holder refreshes it while it
works, and only the holder (same token) refreshes or removes it. A holder that died stops
refreshing it: the key expires and the next one takes over. Without Redis (the embedded
worker) there are no leases and no merge ahead: the body merges, as before.

After recording a run, the merge ahead leaves a mark naming the dispatch it merged (the
run's `dispatched_at`), so the body of that dispatch knows the run is merged and recorded.
"""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import TYPE_CHECKING

from invoicing.config import Settings

if TYPE_CHECKING:  # the Redis client is optional for the embedded mode
    import redis

TTL_MS = 30_000  # a holder refreshes it every chunk of invoices; a dead one's expires in this
WAIT_POLL_S = 0.05
MARK_TTL_S = 24 * 3600

# Only the holder (its token) extends or removes it, in one step on the server.
_OURS = "if redis.call('get', KEYS[1]) == ARGV[1] then return "
_REFRESH = _OURS + "redis.call('pexpire', KEYS[1], ARGV[2]) end return 0"
_RELEASE = _OURS + "redis.call('del', KEYS[1]) end return 0"

_clients: dict[tuple[int, str], redis.Redis] = {}


def client_for(settings: Settings) -> redis.Redis | None:
    """This process's client of the broker's Redis, or None (embedded, or another broker)."""
    url = settings.broker_url or ""
    if settings.embedded or not url.startswith(("redis://", "rediss://")):
        return None
    key = (os.getpid(), url)  # a forked pool process makes its own connections
    if key not in _clients:
        import redis

        timeout = settings.connect_timeout_s
        _clients[key] = redis.Redis.from_url(url, socket_connect_timeout=timeout, socket_timeout=30)
    return _clients[key]


def _key(settings: Settings, what: str, run_id: int) -> str:
    return f"{settings.redis_prefix or ''}invoicing:{what}:{run_id}"


class Lease:
    def __init__(self, client: redis.Redis, key: str, token: str):
        self.client, self.key, self.token = client, key, token

    def refresh(self) -> bool:
        """Extend it; False if it is not ours any more."""
        return bool(self.client.eval(_REFRESH, 1, self.key, self.token, TTL_MS))

    def release(self) -> None:
        self.client.eval(_RELEASE, 1, self.key, self.token)


def try_take(run_id: int, settings: Settings) -> Lease | None:
    """The run's merge lease if nobody holds it, else None (also without Redis)."""
    client = client_for(settings)
    if client is None:
        return None
    key, token = _key(settings, "merge-lease", run_id), uuid.uuid4().hex
    if client.set(key, token, nx=True, px=TTL_MS):
        return Lease(client, key, token)
    return None


@contextmanager
def merging(run_id: int, settings: Settings) -> Iterator[Lease | None]:
    """Hold the run's merge lease for the block, waiting while another holds it (a merge
    ahead finishing; a dead holder's lease expires within TTL_MS). Without Redis, None."""
    if client_for(settings) is None:
        yield None
        return
    while (held := try_take(run_id, settings)) is None:
        time.sleep(WAIT_POLL_S)
    try:
        yield held
    finally:
        held.release()


def mark_merged(run_id: int, dispatched_at: datetime, settings: Settings) -> None:
    client = client_for(settings)
    if client is not None:
        client.set(_key(settings, "merged-ahead", run_id), dispatched_at.isoformat(), ex=MARK_TTL_S)


def merged_ahead(run_id: int, dispatched_at: datetime | None, settings: Settings) -> bool:
    """Whether the merge ahead merged and recorded the run as dispatched at `dispatched_at`."""
    client = client_for(settings)
    if client is None or dispatched_at is None:
        return False
    mark = client.get(_key(settings, "merged-ahead", run_id))
    if isinstance(mark, bytes):
        mark = mark.decode()
    return mark == dispatched_at.isoformat()
