"""INVOICING_MAIL_RATE: messages per second across every worker, shared through Redis.

The generic cell rate algorithm (GCRA, as in ATM networks and redis-cell): one Redis key
holds the theoretical arrival time of the next message; a sender may go when that time
is at most one burst interval ahead of now, and moves it on by 1/rate. One Lua script
does the read-compare-write atomically on the server, with the server's clock, so
workers on several machines share one rate without agreeing on their clocks. The burst
is one second's worth of messages.

Embedded (no Redis) the bucket is this process's: the embedded worker is the only sender.
"""

from __future__ import annotations

import threading
import time
from typing import Any

# KEYS[1] the key; ARGV[1] interval (µs per message), ARGV[2] burst tolerance (µs).
# Returns 0 to go now, or the µs to wait.
_GCRA = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local interval = tonumber(ARGV[1])
local tolerance = tonumber(ARGV[2])
local tat = tonumber(redis.call('GET', KEYS[1]) or now)
if tat < now then tat = now end
local allowed_at = tat - tolerance
if now < allowed_at then return allowed_at - now end
local new_tat = tat + interval
redis.call('SET', KEYS[1], new_tat, 'PX', math.ceil((new_tat - now) / 1000) + 1000)
return 0
"""


class Limiter:
    """`wait()` before each message: returns once the shared rate allows one more."""

    def __init__(self, rate: float, redis_url: str | None, prefix: str) -> None:
        self.rate = rate
        self._interval_us = int(1_000_000 / rate) if rate > 0 else 0
        self._tolerance_us = max(0, 1_000_000 - self._interval_us)
        self._client: Any = None
        self._script: Any = None
        self._key = f"{prefix}invoicing:mail-rate"
        self._lock = threading.Lock()
        self._tat = 0.0
        if rate > 0 and redis_url:
            import redis

            self._client = redis.Redis.from_url(redis_url)
            self._script = self._client.register_script(_GCRA)

    def wait(self) -> None:
        if self.rate <= 0:
            return
        while True:
            delay = self.ask()
            if delay <= 0:
                return
            time.sleep(delay)

    def ask(self) -> float:
        """0 to go now, or the seconds to wait before asking again."""
        if self._script is not None:
            waited = int(self._script(keys=[self._key], args=[self._interval_us, self._tolerance_us]))
            return waited / 1_000_000
        with self._lock:
            now = time.monotonic()
            tat = max(self._tat, now)
            allowed_at = tat - self._tolerance_us / 1_000_000
            if now < allowed_at:
                return allowed_at - now
            self._tat = tat + self._interval_us / 1_000_000
            return 0.0
