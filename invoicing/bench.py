"""`invoicing bench`: the billing run through Celery against a plain loop, in one run.

Builds a throw-away database and output folder with N generated subscribers, starts W
real worker processes on Redis, and measures:
- baseline: the project's own render and merge functions in a loop in this process;
- billing run: the real path (dispatch the chord, W workers, the merging body).
Timings on shared machines are noisy, so the figure that matters is the ratio of the
two, measured side by side.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path

from invoicing.errors import InvoicingError
from invoicing.run.steps import peak_rss_mb

DEFAULT_BROKER = "redis://127.0.0.1:6379/0"


@dataclass
class BenchResult:
    subscribers: int
    workers: int
    baseline_s: float
    celery_s: float
    ratio: float
    invoices_per_s: float
    dispatch_s: float
    bytes_per_invoice: float
    merge_peak_rss_mb: float
    issue_s: float
    baseline_render_s: float
    baseline_merge_s: float
    batch_size: int
    worker_peak_rss_mb: float
    pdfunite_s: float | None
    celery_merge_s: float  # of celery_s: the chord body's merge, serial
    worker_cpu_s: float  # CPU the worker processes used during the billing run
    bench_peak_rss_mb: float  # this command: the baseline's loop and merge
    prelinked: int  # invoices the body took from the header's pre-linked fragments
    bytes_per_single_invoice: float  # mean size of one invoice's own file

    def as_dict(self) -> dict[str, float | int | None]:
        return asdict(self)


@contextmanager
def _bench_environment(root: Path, broker_url: str, prefix: str) -> Iterator[dict[str, str]]:
    from invoicing.celery import configure
    from invoicing.config import get_settings

    values = {
        "INVOICING_DATABASE_URL": f"sqlite:///{root / 'bench.db'}",
        "INVOICING_OUTPUT_DIR": str(root / "output"),
        "INVOICING_BROKER_URL": broker_url,
        "INVOICING_RESULT_BACKEND": broker_url,
        "INVOICING_REDIS_PREFIX": prefix,
        "INVOICING_QUEUE": f"bench-{prefix.rstrip(':')}",
    }
    saved = {key: os.environ.get(key) for key in values}
    os.environ.update(values)
    get_settings.cache_clear()
    configure()
    try:
        yield values
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        get_settings.cache_clear()
        configure()


def _start_workers(env: dict[str, str], count: int, root: Path) -> subprocess.Popen[bytes]:
    log = open(root / "worker.log", "wb")  # noqa: SIM115 - lives as long as the worker
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "invoicing",
            "worker",
            "-Q",
            env["INVOICING_QUEUE"],
            "--pool",
            "prefork",
            "--concurrency",
            str(count),
            "--loglevel",
            "WARNING",
            "-n",
            f"bench-{uuid.uuid4().hex[:6]}@%h",
            "--without-gossip",
            "--without-mingle",
            "--without-heartbeat",
        ],
        env={**os.environ, **env},
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    from invoicing.celery import app

    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise InvoicingError(f"bench worker exited with {proc.returncode}: see {root / 'worker.log'}")
        if app.control.ping(timeout=0.5):
            return proc
    _stop(proc)
    raise InvoicingError("bench workers did not answer within 60 s")


def _worker_pids(proc: subprocess.Popen[bytes]) -> list[int]:
    pids = [proc.pid]
    try:
        children = Path(f"/proc/{proc.pid}/task/{proc.pid}/children").read_text().split()
        pids += [int(pid) for pid in children]
    except OSError:
        pass
    return pids


def _cpu_s(pids: list[int]) -> float:
    """User + system CPU seconds the processes have used so far (Linux; 0 elsewhere)."""
    ticks = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        ticks += int(fields[11]) + int(fields[12])  # utime, stime
    return ticks / os.sysconf("SC_CLK_TCK")


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def _cleanup_redis(broker_url: str, prefix: str) -> None:
    import redis

    client = redis.Redis.from_url(broker_url, socket_connect_timeout=3)
    keys = list(client.scan_iter(match=f"{prefix}*", count=1000))
    for start in range(0, len(keys), 1000):
        client.delete(*keys[start : start + 1000])


def run_bench(subscribers: int, workers: int, say: Callable[[str], None] = lambda _: None) -> BenchResult:
    from sqlalchemy import select
    from sqlalchemy.orm import joinedload, selectinload

    from invoicing.billing import Period, create_run, document_for, seller_from
    from invoicing.billing.importer import import_data
    from invoicing.celery import app
    from invoicing.config import get_settings
    from invoicing.db import init_db, session_scope
    from invoicing.files import StagedFiles
    from invoicing.models import BillingRun, Invoice
    from invoicing.pdf import Part, merge_pdfs, render_invoice
    from invoicing.run.runtime import check_backends
    from invoicing.run.workflow import FINAL, batch_size, dispatch, ids_of_run
    from invoicing.synthetic import synthetic_dataset

    broker_url = get_settings().broker_url or DEFAULT_BROKER
    period = Period(2026, 10)
    prefix = f"invoicing-bench-{uuid.uuid4().hex[:8]}:"
    root = Path(tempfile.mkdtemp(prefix="invoicing-bench-"))
    try:
        with _bench_environment(root, broker_url, prefix) as env:
            settings = get_settings()
            check_backends(settings)
            say(f"seeding {subscribers:,} subscribers into {root}")
            init_db()
            with session_scope() as session:
                import_data(session, synthetic_dataset(subscribers, str(period), seed=1))

            say("issuing the run")
            started = time.perf_counter()
            with session_scope() as session:
                run_id = create_run(session, settings, period).id
            issue_s = time.perf_counter() - started
            ids = ids_of_run(run_id)
            size = batch_size(len(ids), workers, settings)

            say(f"starting {workers} worker process(es)")
            proc = _start_workers(env, workers, root)
            try:
                say("billing run through Celery")
                pids = _worker_pids(proc)
                cpu_before = _cpu_s(pids)
                started = time.perf_counter()
                body_id = dispatch(run_id, ids, workers, settings)
                dispatch_s = time.perf_counter() - started
                merge_result = app.AsyncResult(body_id).get(timeout=24 * 3600, interval=0.2, propagate=True)
                celery_s = time.perf_counter() - started
                worker_cpu_s = _cpu_s(pids) - cpu_before
                worker_peak = max(peak_rss_mb(pid) for pid in _worker_pids(proc))
            finally:
                _stop(proc)
            with session_scope() as session:
                run = session.get(BillingRun, run_id)
                assert run is not None
                if run.status not in FINAL or run.failed_count:
                    raise InvoicingError(f"bench run ended {run.status.value} with {run.failed_count} failed")
                merged_size = Path(run.output_path or "").stat().st_size

            say("baseline: the same invoices in a plain loop")
            baseline_dir = root / "baseline"
            seller = seller_from(settings)
            parts: list[Part] = []
            started = time.perf_counter()
            for start in range(0, len(ids), size):  # the header's batches, written the header's way
                staged = StagedFiles()
                with session_scope() as session:
                    invoices = session.scalars(
                        select(Invoice)
                        .where(Invoice.id.in_(ids[start : start + size]))
                        .options(selectinload(Invoice.lines), joinedload(Invoice.subscriber))
                        .order_by(Invoice.seq)
                    ).all()
                    for invoice in invoices:
                        path = baseline_dir / f"{invoice.number}.pdf"
                        staged.write(invoice.id, path, render_invoice(document_for(invoice, seller)))
                        title = f"{invoice.number} — {invoice.subscriber.name}"
                        parts.append(Part(path, title, invoice.number))
                if staged.commit():
                    raise InvoicingError(f"bench: cannot write the baseline's invoices in {baseline_dir}")
            baseline_render_s = time.perf_counter() - started
            started = time.perf_counter()
            merge_pdfs(parts, baseline_dir / "merged.pdf")
            baseline_merge_s = time.perf_counter() - started
            baseline_s = baseline_render_s + baseline_merge_s
            single_bytes = sum(p.path.stat().st_size for p in parts) / max(len(parts), 1)

            pdfunite_s = _time_pdfunite([p.path for p in parts], root / "pdfunite.pdf")
    finally:
        try:
            _cleanup_redis(broker_url, prefix)
        except Exception:  # noqa: BLE001 - best effort; the keys expire with result_expires anyway
            pass
        shutil.rmtree(root, ignore_errors=True)

    return BenchResult(
        subscribers=subscribers,
        workers=workers,
        baseline_s=round(baseline_s, 3),
        celery_s=round(celery_s, 3),
        ratio=round(celery_s / baseline_s, 3),
        invoices_per_s=round(subscribers / celery_s, 1),
        dispatch_s=round(dispatch_s, 3),
        bytes_per_invoice=round(merged_size / subscribers, 1),
        merge_peak_rss_mb=round(float(merge_result.get("peak_rss_mb", 0.0)), 1),
        issue_s=round(issue_s, 3),
        baseline_render_s=round(baseline_render_s, 3),
        baseline_merge_s=round(baseline_merge_s, 3),
        batch_size=size,
        worker_peak_rss_mb=round(worker_peak, 1),
        pdfunite_s=None if pdfunite_s is None else round(pdfunite_s, 3),
        celery_merge_s=round(float(merge_result.get("merge_s", 0.0)), 3),
        worker_cpu_s=round(worker_cpu_s, 3),
        bench_peak_rss_mb=round(peak_rss_mb(), 1),
        prelinked=int(merge_result.get("prelinked", 0)),
        bytes_per_single_invoice=round(single_bytes, 1),
    )


def _time_pdfunite(paths: list[Path], output: Path) -> float | None:
    """pdfunite (poppler) on the same files, as a yardstick for the merge; None if absent."""
    tool = shutil.which("pdfunite")
    if tool is None or len(paths) > 20_000:  # argv length limits
        return None
    started = time.perf_counter()
    subprocess.run([tool, *map(str, paths), str(output)], check=True, capture_output=True)
    return time.perf_counter() - started
