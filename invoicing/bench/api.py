"""`invoicing bench --api`: what the HTTP API costs a run, and what a client waits.

On a throw-away database and output folder with N generated subscribers and W worker
processes on Redis (as `invoicing bench`), with `invoicing serve` running: the period's
run rendered once with no requests (the quiet run), then voided and rendered again while
C clients poll `GET /runs/{id}` (the loaded run): every `interval` seconds all C send at
the same instant, each waiting for its answer (bench/clients.py says why; 0: back to
back). Both runs bill the same subscribers, the same invoices; the figures are each run's
invoices per second, how much slower the loaded one was, the load offered and answered,
the requests' latency percentiles, and the CPU the server and the clients took from the
workers. The clients are one asyncio process on the same machine: their CPU is part of
what the loaded run competes with, as on a small server, and is measured apart.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

from invoicing.bench import DEFAULT_BROKER, _bench_environment, _cleanup_redis, _cpu_s, _start_workers, _stop
from invoicing.errors import InvoicingError, plural

SERVER_START_S = 90


@dataclass
class ApiBenchResult:
    subscribers: int
    workers: int
    clients: int
    poll_interval_s: float  # 0: back to back
    quiet_invoices_per_s: float
    loaded_invoices_per_s: float
    slowdown_pct: float  # how much lower the loaded run's invoices/s was than the quiet run's
    requests: int
    errors: int  # answers other than 200, and requests that failed
    offered_per_s: float | None  # clients / interval; None back to back (as many as answered)
    requests_per_s: float  # answered, over the loaded run
    # The server's and the clients' CPU per request: unlike the latencies, they hardly
    # move with what else the machine runs. Times the requests per second, the share of
    # one core each took from the workers while the loaded run rendered.
    server_cpu_ms_per_request: float
    server_cores: float
    client_cpu_ms_per_request: float
    client_cores: float
    p50_ms: float
    p95_ms: float
    p99_ms: float
    max_ms: float
    load_average: float  # the machine's 1-minute load average when the loaded run ended

    def as_dict(self) -> dict[str, float | int]:
        return asdict(self)


def _percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return 0.0
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


def _serve(env: dict[str, str], root: Path, port: int) -> subprocess.Popen[bytes]:
    import httpx

    log = open(root / "serve.log", "wb")  # noqa: SIM115 - lives as long as the server
    proc = subprocess.Popen(
        [sys.executable, "-c", "from invoicing.cli import main; main()", "serve", "--port", str(port)],
        env={**os.environ, **env},
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    deadline = time.monotonic() + SERVER_START_S
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise InvoicingError(f"invoicing serve exited with {proc.returncode}: see {root / 'serve.log'}")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/health", timeout=2).status_code == 200:
                return proc
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    _stop(proc)
    raise InvoicingError(f"invoicing serve did not answer within {SERVER_START_S} s")


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _clients(
    env: dict[str, str], url: str, token: str, clients: int, interval: float
) -> subprocess.Popen[str]:
    """The clients' process (bench/clients.py), connected and waiting for `go`."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "invoicing.bench.clients", url, str(clients), str(interval)],
        env={**os.environ, **env, "INVOICING_BENCH_TOKEN": token},
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    assert proc.stdin is not None and proc.stdout is not None
    if proc.stdout.readline().strip() != "ready":
        _stop(proc)
        raise InvoicingError(f"bench: the clients did not connect to {url}")
    return proc


def run_api_bench(
    subscribers: int,
    workers: int,
    clients: int = 200,
    interval: float = 1.0,
    say: Callable[[str], None] = lambda _: None,
) -> ApiBenchResult:
    from invoicing.billing import Period, create_run
    from invoicing.billing.importer import import_data
    from invoicing.billing.void import void_run
    from invoicing.celery import app
    from invoicing.config import get_settings
    from invoicing.db import init_db, session_scope
    from invoicing.run.dispatch import dispatch, ids_of_run
    from invoicing.run.runtime import check_backends
    from invoicing.synthetic import synthetic_dataset
    from invoicing.tokens import create_token

    broker_url = get_settings().broker_url or DEFAULT_BROKER
    period = Period(2026, 10)
    prefix = f"invoicing-bench-{uuid.uuid4().hex[:8]}:"
    root = Path(tempfile.mkdtemp(prefix="invoicing-bench-api-"))

    def issue() -> tuple[int, list[int]]:
        with session_scope() as session:
            run_id = create_run(session, get_settings(), period).id
        return run_id, ids_of_run(run_id)

    def render(run_id: int, ids: list[int]) -> float:
        """Dispatch the issued run and wait for its body; its invoices per second."""
        started = time.perf_counter()
        body_id = dispatch(run_id, ids, workers, get_settings())
        app.AsyncResult(body_id).get(timeout=24 * 3600, interval=0.2, propagate=True)
        return len(ids) / (time.perf_counter() - started)

    try:
        with _bench_environment(root, broker_url, prefix) as env:
            check_backends(get_settings())
            say(f"seeding {subscribers:,} subscribers into {root}")
            init_db()
            with session_scope() as session:
                import_data(session, synthetic_dataset(subscribers, str(period), seed=1))
                _, token = create_token(session, "bench", "read")
            port = _free_port()
            say(
                f"starting {plural(workers, 'worker process', 'worker processes')}"
                f" and invoicing serve on port {port}"
            )
            proc = _start_workers(env, workers, root)
            server = None
            try:
                server = _serve(env, root, port)
                say("the quiet run: no requests")
                quiet_id, ids = issue()
                quiet = render(quiet_id, ids)
                with session_scope() as session:
                    void_run(session, quiet_id, "bench: the same invoices again, under requests")
                how = f"every {interval:g} s, all at once" if interval > 0 else "back to back"
                say(f"the loaded run: {clients} clients polling GET /runs/{{id}} {how}")
                loaded_id, ids = issue()
                url = f"http://127.0.0.1:{port}/runs/{loaded_id}"
                polling = _clients(env, url, token, clients, interval)
                assert polling.stdin is not None and polling.stdout is not None
                server_cpu = _cpu_s([server.pid])[0]
                polling.stdin.write("go\n")
                polling.stdin.flush()
                started = time.perf_counter()
                try:
                    loaded = render(loaded_id, ids)
                finally:
                    elapsed = time.perf_counter() - started
                    server_cpu = _cpu_s([server.pid])[0] - server_cpu
                    load_average = os.getloadavg()[0]
                    try:
                        polling.stdin.write("stop\n")
                        polling.stdin.close()
                        answer = polling.stdout.read()
                        polling.wait(timeout=300)
                    finally:
                        _stop(polling)
                figures = json.loads(answer)
            finally:
                if server is not None:
                    _stop(server)
                _stop(proc)
    finally:
        try:
            _cleanup_redis(broker_url, prefix)
        except Exception:  # noqa: BLE001 - best effort; the keys expire with result_expires anyway
            pass
        shutil.rmtree(root, ignore_errors=True)

    latencies = [ms / 1000 for ms in figures["latencies_ms"]]
    requests = max(len(latencies), 1)
    return ApiBenchResult(
        subscribers=subscribers,
        workers=workers,
        clients=clients,
        poll_interval_s=interval,
        quiet_invoices_per_s=round(quiet, 1),
        loaded_invoices_per_s=round(loaded, 1),
        slowdown_pct=round((1 - loaded / quiet) * 100, 1),
        requests=len(latencies),
        errors=figures["errors"],
        offered_per_s=round(clients / interval, 1) if interval > 0 else None,
        requests_per_s=round(len(latencies) / figures["seconds"], 1),
        server_cpu_ms_per_request=round(server_cpu * 1000 / requests, 3),
        server_cores=round(server_cpu / elapsed, 3),
        client_cpu_ms_per_request=round(figures["cpu_s"] * 1000 / requests, 3),
        client_cores=round(figures["cpu_s"] / figures["seconds"], 3),
        p50_ms=round(_percentile(latencies, 0.50) * 1000, 1),
        p95_ms=round(_percentile(latencies, 0.95) * 1000, 1),
        p99_ms=round(_percentile(latencies, 0.99) * 1000, 1),
        max_ms=round(max(latencies, default=0.0) * 1000, 1),
        load_average=round(load_average, 2),
    )
