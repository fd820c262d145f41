"""The clients of `invoicing bench --api`: one asyncio process apart from the bench's, so
that its CPU is measured alone, with C keep-alive connections (aiohttp: 0.15 ms of CPU
per request on this project's machine, where httpx's AsyncClient took 3.2 ms).

What they do, as dashboards and scripts polling a run do: every client sends
`GET /runs/{id}`, waits for the answer, then for its next poll. The polls are shared:
every `interval` seconds all C clients send at the same instant, so C requests are in
flight at once (the "C concurrent requests" of a wave), the worst a set of pollers can
ask at that rate; pollers whose ticks were spread over the interval would queue less.
A client whose answer comes after its next tick sends at once; its latency is counted
from the tick it missed (no coordinated omission). With an interval of 0 each client
sends back to back: the most requests the clients can get answered, not a poller.

Protocol on stdin/stdout: it connects (one request per client, not counted), prints
`ready`, starts on a `go` line, stops on `stop` or at the end of stdin (each client's request of its current
tick is still answered and counted), and prints one JSON object (Figures).
"""

from __future__ import annotations

import asyncio
import json
import os
import resource
import sys
import time
from dataclasses import asdict, dataclass


@dataclass
class Figures:
    requests: int  # answered or failed, sent between go and stop
    errors: int  # answers other than 200, and requests that failed
    seconds: float  # from go to the last answer
    cpu_s: float  # this process's user + system CPU from go to the last answer
    latencies_ms: list[float]  # from each request's tick (or its sending, back to back)


def _cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


async def poll(url: str, token: str, clients: int, interval: float) -> Figures:
    import aiohttp

    loop = asyncio.get_running_loop()
    lines: asyncio.Queue[str] = asyncio.Queue()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)

    async def read_lines() -> None:
        while line := await reader.readline():
            await lines.put(line.decode().strip())
        await lines.put("stop")

    reading = asyncio.create_task(read_lines())
    latencies: list[float] = []
    errors = 0
    stopping = asyncio.Event()
    connector = aiohttp.TCPConnector(limit=clients, limit_per_host=clients)
    headers = {"Authorization": f"Bearer {token}"}
    timeout = aiohttp.ClientTimeout(total=120)
    async with aiohttp.ClientSession(connector=connector, headers=headers, timeout=timeout) as session:

        async def get() -> bool:
            try:
                async with session.get(url) as response:
                    await response.read()
                    return response.status == 200
            except (aiohttp.ClientError, TimeoutError):
                return False

        await asyncio.gather(*(get() for _ in range(clients)))  # the connections, kept alive
        print("ready", flush=True)
        while await lines.get() != "go":
            pass
        began, cpu = time.perf_counter(), _cpu_s()

        async def client() -> None:
            nonlocal errors
            due = began
            while True:
                wait = due - time.perf_counter()
                if wait > 0:
                    try:  # asleep until the tick, or told to stop
                        await asyncio.wait_for(stopping.wait(), wait)
                        return
                    except TimeoutError:
                        pass
                if interval <= 0:
                    due = time.perf_counter()
                ok = await get()
                now = time.perf_counter()
                latencies.append(now - due)
                errors += not ok
                if stopping.is_set():
                    return
                due += interval  # already past when the answer was late: sent at once

        async def stop_on_line() -> None:
            while await lines.get() != "stop":
                pass
            stopping.set()

        stopper = asyncio.create_task(stop_on_line())
        await asyncio.gather(*(client() for _ in range(clients)))
        await stopper
        seconds, cpu = time.perf_counter() - began, _cpu_s() - cpu
    reading.cancel()
    return Figures(len(latencies), errors, seconds, cpu, [round(x * 1000, 3) for x in latencies])


def main() -> None:
    url, clients, interval = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
    token = os.environ["INVOICING_BENCH_TOKEN"]  # not in argv, which `ps` shows
    figures = asyncio.run(poll(url, token, clients, interval))
    print(json.dumps(asdict(figures)), flush=True)


if __name__ == "__main__":
    main()
