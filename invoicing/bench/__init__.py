"""`invoicing bench`: the billing run through Celery against a plain loop, in one run;
`invoicing bench --einvoice`: what an e-invoice adds to each invoice, in this process.

Builds a throw-away database and output folder with N generated subscribers, starts W
real worker processes on Redis, and measures:
- baseline: the project's own render and merge functions in a loop in this process;
- billing run: the real path (dispatch the chord, W workers, the merging body).
Timings on shared machines are noisy, so the figure that matters is the ratio of the
two, measured side by side.

The e-invoice bench (`run_einvoice_bench`) renders the same synthetic invoices as plain
PDFs and times, per invoice and side by side, the two parts a hybrid adds: the XML
(`einvoice_for`: pre-flight and CII) and the PDF/A-3 update (`make_hybrid`); and,
separately, what INVOICING_EINVOICE_VALIDATE adds: the EN 16931 XSD and Schematron
(`validate_pdf`), with the Schematron's one-off compilation per process apart.

`invoicing bench --deliver` then e-mails every invoice of the run (all on channel both)
with the same workers to an SMTP server of its own on loopback (bench/mailsink.py):
messages per second from `deliver`'s dispatch to the last `sent`, and the workers' CPU
per message.

What only a benchmark wants to know about the chord body (its merge time, its peak
memory, how many invoices it took pre-linked) is measured by `invoicing.bench.probe`,
which only the workers started here load; production workers carry no instrumentation.

Reading the figures. Worker CPU per invoice, all in, moves far less with the machine's
load than wall-clock time, and callgrind's instruction counts not at all: compare those
(and the ratio) between two trees, one run after the other. Its kernel part is mostly
creating the invoice files: on an ext4 without a journal the inode allocator skips inodes
freed in the last minutes, so back-to-back benches (each deletes its folder) pay for each
other's clean-up, which a night's run does not (TMPDIR=/dev/shm takes it out).
"""

from __future__ import annotations

import gc
import json
import os
import resource
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

from invoicing.bench.mailsink import MailSink
from invoicing.bench.rss import current_rss_mb, peak_rss_mb, reaped_peak_rss_mb, reset_peak_rss
from invoicing.errors import InvoicingError, plural

DEFAULT_BROKER = "redis://127.0.0.1:6379/0"
# Where the bench's workers' probe writes the body's figures (see bench.probe).
PROBE_FIGURES = "INVOICING_BENCH_FIGURES"


@dataclass
class BenchResult:
    subscribers: int
    workers: int
    baseline_s: float | None
    celery_s: float
    ratio: float | None
    invoices_per_s: float
    dispatch_s: float
    bytes_per_invoice: float
    merge_peak_rss_mb: float
    issue_s: float
    baseline_render_s: float | None
    baseline_merge_s: float | None
    batch_size: int
    worker_peak_rss_mb: float
    pdfunite_s: float | None
    pdfunite_skipped: str | None  # why the pdfunite comparison did not run
    celery_merge_s: float  # of celery_s: the merge from its start (merged ahead: the first batch)
    merge_cpu_s: float  # the merging thread's CPU: the merge's own pace, without its waits
    # From the moment the last header batch committed to the moment the body had recorded
    # the run: what the merge adds after the rendering is done.
    merge_tail_s: float
    worker_cpu_s: float  # CPU the worker processes used during the billing run
    bench_peak_rss_mb: float  # this command: the baseline's loop and merge
    # The largest peak of every process of the run: this command, its import, workers and
    # their pool processes (read before they stop). Not the outline's reader, the bench's
    # own check, apart below.
    every_process_peak_rss_mb: float
    outline_peak_rss_mb: float  # the outline reader's peak: pypdf's cross-reference table
    prelinked: int  # invoices the body took from the header's pre-linked fragments
    bytes_per_single_invoice: float | None  # mean size of one invoice's own file
    issue_added_rss_mb: float  # peak RSS the issuing transaction added to this command's
    # Bookmarks in the merged file, read back from it: the run's printed invoices, each once
    # and in number order (bench/outline.py), or the bench fails.
    outline_invoices: int
    # 1,000,000 subscribers on 8, 32 and 128 processes from these figures (bench/scale.py)
    projected: list[dict[str, float]]
    # The worker CPU per invoice all-in (render, fragment, write, rows, Celery, the
    # body's merge), and the median render of one invoice in the baseline loop by script
    # (None: no baseline, or no invoice of that group).
    worker_cpu_ms_per_invoice: float = 0.0
    # of which in the kernel (system time: creating and writing files, syncfs, sockets);
    # it varies with the file system far more than the rest (see the module's docstring)
    worker_system_ms_per_invoice: float = 0.0
    render_latin_ms: float | None = None
    render_other_ms: float | None = None  # Cyrillic, Greek: the same face, no shaping
    render_shaped_ms: float | None = None  # CJK, right to left, Indic, Thai
    # --deliver: every invoice e-mailed (channel both) by the same workers to a local
    # SMTP server after the run, one SMTP session per batch; None without it.
    delivered: int | None = None
    deliver_s: float | None = None
    messages_per_s: float | None = None
    deliver_cpu_ms_per_message: float | None = None  # the workers' CPU, all in

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


@contextmanager
def _bench_environment(
    root: Path,
    broker_url: str,
    prefix: str,
    mail: dict[str, str] | None = None,
    database_url: str | None = None,
) -> Iterator[dict[str, str]]:
    from invoicing.celery import configure
    from invoicing.config import get_settings

    values = (mail or {}) | {
        "INVOICING_DATABASE_URL": database_url or f"sqlite:///{root / 'bench.db'}",
        "INVOICING_OUTPUT_DIR": str(root / "output"),
        "INVOICING_BROKER_URL": broker_url,
        "INVOICING_RESULT_BACKEND": broker_url,
        "INVOICING_REDIS_PREFIX": prefix,
        "INVOICING_QUEUE": f"bench-{prefix.rstrip(':')}",
        # One merged file, whatever volumes the user's settings cut: its size and its
        # bookmarks are what the bench reports and checks.
        "INVOICING_VOLUME_MAX_PAGES": "0",
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


def unwind_on_sigterm() -> None:
    """From now on SIGTERM (a job's time limit, `kill`) unwinds this process as Ctrl-C
    does: the bench's workers stopped, its throw-away folder (at a million subscribers
    some 30 GB of invoices) and its Redis keys removed. By default Python would die on
    the spot and leave all three behind, the workers still taking the bench's queue."""

    def unwind(signum: int, _frame: object) -> None:
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, unwind)


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
            "--include",
            "invoicing.bench.probe",
        ],
        env={**os.environ, **env, PROBE_FIGURES: str(root / "merge-figures.json")},
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    from invoicing.celery import app

    deadline = time.monotonic() + 60
    try:
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise InvoicingError(f"bench worker exited with {proc.returncode}: see {root / 'worker.log'}")
            if app.control.ping(timeout=0.5):
                return proc
        raise InvoicingError("bench workers did not answer within 60 s")
    except BaseException:  # stopped while waiting (Ctrl-C, SIGTERM) too: no worker left behind
        _stop(proc)
        raise


def _worker_pids(proc: subprocess.Popen[bytes]) -> list[int]:
    pids = [proc.pid]
    try:
        children = Path(f"/proc/{proc.pid}/task/{proc.pid}/children").read_text().split()
        pids += [int(pid) for pid in children]
    except OSError:
        pass
    return pids


def _cpu_s(pids: list[int]) -> tuple[float, float]:
    """User + system, and system CPU seconds the processes have used so far (Linux; 0
    elsewhere)."""
    user = system = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        user, system = user + int(fields[11]), system + int(fields[12])  # utime, stime
    tick = os.sysconf("SC_CLK_TCK")
    return (user + system) / tick, system / tick


def _stop(proc: subprocess.Popen[bytes] | subprocess.Popen[str]) -> None:
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


def run_bench(
    subscribers: int,
    workers: int,
    say: Callable[[str], None] = lambda _: None,
    baseline: bool = True,
    deliver: bool = False,
    database_url: str | None = None,
) -> BenchResult:
    """The bench on a throw-away SQLite file, or on `database_url`: an empty database
    (PostgreSQL, say) that it fills and leaves filled; one holding data is refused
    before anything is written."""
    from invoicing.bench.outline import check_outline, printed_numbers
    from invoicing.bench.scale import project, refuse_filled
    from invoicing.bench.seed import seed
    from invoicing.billing import Period, create_run, seller_from
    from invoicing.billing.documents import issued_batch
    from invoicing.celery import app
    from invoicing.config import get_settings, redact
    from invoicing.db import init_db, session_scope
    from invoicing.files import StagedFiles
    from invoicing.models import BillingRun
    from invoicing.pdf import Part, merge_pdfs
    from invoicing.pdf.einvoice import render_einvoice
    from invoicing.run.dispatch import batch_size, dispatch_run, ids_of_run
    from invoicing.run.runtime import check_backends
    from invoicing.run.state import FINAL
    from invoicing.run.steps import RENDER_CHUNK
    from invoicing.storage.local import LocalStore

    broker_url = get_settings().broker_url or DEFAULT_BROKER
    period = Period(2026, 10)
    prefix = f"invoicing-bench-{uuid.uuid4().hex[:8]}:"
    root = Path(tempfile.mkdtemp(prefix="invoicing-bench-"))
    sink = MailSink() if deliver else None
    mailed: dict[str, float | int | None] = {}
    try:
        with _bench_environment(root, broker_url, prefix, _mail_settings(sink), database_url) as env:
            settings = get_settings()
            check_backends(settings)
            if database_url:
                refuse_filled(database_url)
            say(f"seeding {subscribers:,} subscribers into {redact(database_url) if database_url else root}")
            init_db()
            seed(subscribers, str(period))

            say("issuing the run")
            gc.collect()
            reset_peak_rss()  # from here: what issuing adds to what this process holds
            rss_before_issue = current_rss_mb()
            started = time.perf_counter()
            with session_scope() as session:
                issued_run = create_run(session, settings, period)
                run_id, invoices = issued_run.id, issued_run.invoice_count
            issue_s = time.perf_counter() - started
            issue_rss_mb = peak_rss_mb() - rss_before_issue
            size = batch_size(invoices, workers, settings)

            say(f"starting {plural(workers, 'worker process', 'worker processes')}")
            proc = _start_workers(env, workers, root)
            try:
                say("billing run through Celery")
                pids = _worker_pids(proc)
                cpu_before = _cpu_s(pids)
                started = time.perf_counter()
                body_id = dispatch_run(run_id, workers, settings)
                dispatch_s = time.perf_counter() - started
                app.AsyncResult(body_id).get(timeout=24 * 3600, interval=0.2, propagate=True)
                celery_s = time.perf_counter() - started
                cpu_after = _cpu_s(pids)
                worker_cpu_s = cpu_after[0] - cpu_before[0]
                worker_system_s = cpu_after[1] - cpu_before[1]
                worker_peak = max(peak_rss_mb(pid) for pid in _worker_pids(proc))
                if sink is not None:
                    say("e-mailing every invoice to a local SMTP server")
                    mailed = _deliver(run_id, workers, sink, _worker_pids(proc))
            finally:
                _stop(proc)
                if sink is not None:
                    sink.stop()
            with session_scope() as session:
                run = session.get(BillingRun, run_id)
                assert run is not None
                if run.status not in FINAL or run.failed_count:
                    raise InvoicingError(f"bench run ended {run.status.value} with {run.failed_count} failed")
                merged = Path(run.output_path or "")
                merged_size = merged.stat().st_size
            # Every process of the run has ended and been reaped: its import, its workers.
            run_reaped_peak = reaped_peak_rss_mb()
            outline = check_outline(merged, printed_numbers(run_id))
            body = _probe_figures(root / "merge-figures.json")

            baseline_s = baseline_render_s = baseline_merge_s = single_bytes = None
            pdfunite_s: float | None = None
            pdfunite_skipped: str | None = "no baseline (--no-baseline)"
            renders: dict[str, list[float]] = {"latin": [], "other": [], "shaped": []}
            if baseline:
                say("baseline: the same invoices in a plain loop")
                baseline_dir = root / "baseline"
                seller = seller_from(settings)
                parts: list[Part] = []
                ids = ids_of_run(run_id)
                chunk = min(size, RENDER_CHUNK)
                started = time.perf_counter()
                for start in range(0, len(ids), chunk):  # the workers' chunks, read and written their way
                    staged = StagedFiles()
                    batch = ids[start : start + chunk]
                    with session_scope() as session:
                        issued = issued_batch(session, batch)
                    for invoice_id in batch:
                        row = issued[invoice_id].row
                        path = baseline_dir / f"{row.number}.pdf"
                        doc = issued[invoice_id].document(seller)
                        began = time.perf_counter()
                        pdf = render_einvoice(doc)
                        renders[_script_group(doc.locale)].append(time.perf_counter() - began)
                        staged.write(invoice_id, path, pdf)
                        parts.append(Part(path, f"{row.number} — {row.bill_name}", row.number))
                    if staged.commit():
                        raise InvoicingError(f"bench: cannot write the baseline's invoices in {baseline_dir}")
                baseline_render_s = time.perf_counter() - started
                started = time.perf_counter()
                merge_pdfs(parts, baseline_dir / "merged.pdf")
                baseline_merge_s = time.perf_counter() - started
                baseline_s = baseline_render_s + baseline_merge_s
                single_bytes = sum(Path(p.path).stat().st_size for p in parts) / max(len(parts), 1)

                pdfunite_s, pdfunite_skipped = time_pdfunite(
                    [Path(p.path) for p in parts], root / "pdfunite.pdf"
                )
    finally:
        try:
            _cleanup_redis(broker_url, prefix)
        except Exception:  # noqa: BLE001 - best effort; the keys expire with result_expires anyway
            pass
        LocalStore(root).remove_tree(str(root))

    # What of the merge is left after the header's last batch commits (the rest overlapped
    # the rendering, merged ahead).
    merge_tail_s = body["tail_s"]
    bench_peak = peak_rss_mb()
    projected = project(
        subscribers, workers, issue_s, dispatch_s, worker_cpu_s, body["merge_cpu_s"], merge_tail_s, settings
    )
    return BenchResult(
        subscribers=subscribers,
        workers=workers,
        baseline_s=_rounded(baseline_s),
        celery_s=round(celery_s, 3),
        ratio=None if baseline_s is None else round(celery_s / baseline_s, 3),
        invoices_per_s=round(subscribers / celery_s, 1),
        dispatch_s=round(dispatch_s, 3),
        bytes_per_invoice=round(merged_size / subscribers, 1),
        merge_peak_rss_mb=round(body["peak_rss_mb"], 1),
        issue_s=round(issue_s, 3),
        baseline_render_s=_rounded(baseline_render_s),
        baseline_merge_s=_rounded(baseline_merge_s),
        batch_size=size,
        worker_peak_rss_mb=round(worker_peak, 1),
        pdfunite_s=None if pdfunite_s is None else round(pdfunite_s, 3),
        pdfunite_skipped=pdfunite_skipped,
        celery_merge_s=round(body["merge_s"], 3),
        merge_cpu_s=round(body["merge_cpu_s"], 3),
        merge_tail_s=round(merge_tail_s, 3),
        worker_cpu_s=round(worker_cpu_s, 3),
        bench_peak_rss_mb=round(bench_peak, 1),
        every_process_peak_rss_mb=round(max(bench_peak, worker_peak, run_reaped_peak), 1),
        outline_peak_rss_mb=round(outline.peak_rss_mb, 1),
        prelinked=int(body["prelinked"]),
        bytes_per_single_invoice=_rounded(single_bytes, 1),
        issue_added_rss_mb=round(issue_rss_mb, 1),
        outline_invoices=outline.invoices,
        projected=[p.as_dict() for p in projected],
        worker_cpu_ms_per_invoice=round(worker_cpu_s * 1000 / subscribers, 3),
        worker_system_ms_per_invoice=round(worker_system_s * 1000 / subscribers, 3),
        render_latin_ms=_median_ms(renders["latin"]),
        render_other_ms=_median_ms(renders["other"]),
        render_shaped_ms=_median_ms(renders["shaped"]),
        **mailed,  # type: ignore[arg-type]
    )


def _mail_settings(sink: MailSink | None) -> dict[str, str]:
    """With --deliver: every subscriber on channel both, the sink as the SMTP server."""
    if sink is None:
        return {}
    sink.start()
    return {
        "INVOICING_DEFAULT_CHANNEL": "both",
        "INVOICING_SMTP_URL": sink.url,
        "INVOICING_MAIL_FROM": "billing@bench.example",
    }


def _deliver(run_id: int, workers: int, sink: MailSink, pids: list[int]) -> dict[str, float | int | None]:
    """The run's delivery on the bench's workers, timed from dispatch to the last `sent`."""
    from invoicing.delivery.dispatch import counts, start

    cpu_before = _cpu_s(pids)
    began = time.perf_counter()
    started = start(run_id, workers=workers)
    while True:
        now = counts(run_id)
        if not (now.get("pending") or now.get("sending") or now.get("deferred")):
            break
        time.sleep(0.05)
    deliver_s = time.perf_counter() - began
    cpu_s = _cpu_s(pids)[0] - cpu_before[0]
    if now.get("sent") != started.dispatched or sink.accepted != started.dispatched:
        raise InvoicingError(f"bench delivery: {now}, the server accepted {sink.accepted}")
    return {
        "delivered": started.dispatched,
        "deliver_s": round(deliver_s, 3),
        "messages_per_s": round(started.dispatched / deliver_s, 1),
        "deliver_cpu_ms_per_message": round(cpu_s * 1000 / max(started.dispatched, 1), 3),
    }


def _rounded(value: float | None, digits: int = 3) -> float | None:
    return None if value is None else round(value, digits)


_SHAPED_LANGUAGES = frozenset({"ja", "zh", "ko", "ar", "he", "fa", "hi", "bn", "ta", "th", "si"})
_OTHER_LANGUAGES = frozenset({"ru", "uk", "el", "bg", "sr"})


def _script_group(locale: str) -> str:
    language = locale.split("_")[0]
    return "shaped" if language in _SHAPED_LANGUAGES else "other" if language in _OTHER_LANGUAGES else "latin"


def _median_ms(values: list[float]) -> float | None:
    import statistics

    return round(statistics.median(values) * 1000, 3) if values else None


def _probe_figures(path: Path) -> dict[str, float]:
    try:
        figures: dict[str, float] = json.loads(path.read_text(encoding="utf-8"))
        last_batch = max(float(line) for line in Path(f"{path}.batches").read_text("ascii").split())
        figures["tail_s"] = float(Path(f"{path}.body").read_text("ascii")) - last_batch
    except (OSError, ValueError) as exc:
        raise InvoicingError(f"bench: the workers reported no figures for the merge ({exc})") from None
    return figures


def time_pdfunite(paths: list[Path], output: Path) -> tuple[float | None, str | None]:
    """pdfunite (poppler) on the same files, as a yardstick for the merge: (seconds, None),
    or (None, why it could not run). It opens every input at once and takes them all as
    arguments, so past the open-file or argument limits it is skipped, never fatal: the
    bench's own figures are what matter."""
    tool = shutil.which("pdfunite")
    if tool is None:
        return None, "pdfunite not installed (Debian: poppler-utils)"
    argv = [tool, *map(str, paths), str(output)]
    room = os.sysconf("SC_ARG_MAX") - sum(len(k) + len(v) + 2 for k, v in os.environ.items()) - 4096
    needed = sum(len(arg) + 1 for arg in argv)
    if needed > room:
        return (
            None,
            f"{len(paths):,} file names take {needed:,} bytes of arguments; the limit leaves {room:,}",
        )
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    files = len(paths) + 64  # its inputs at once, the output, and a margin
    if hard != resource.RLIM_INFINITY and files > hard:
        return None, f"pdfunite opens all {len(paths):,} files at once; the open-file limit is {hard:,}"

    def more_files() -> None:  # in the child only
        resource.setrlimit(resource.RLIMIT_NOFILE, (files, hard))

    started = time.perf_counter()
    proc = subprocess.run(argv, capture_output=True, preexec_fn=more_files, check=False)
    elapsed = time.perf_counter() - started
    if proc.returncode != 0:
        text = proc.stderr.decode(errors="replace").strip()
        reason = text.splitlines()[0][:200] if text else "no message"
        return None, f"pdfunite failed (exit {proc.returncode}): {reason}"
    return elapsed, None


@dataclass
class EInvoiceBenchResult:
    invoices: int
    render_ms: float  # median per invoice: the plain PDF (reportlab)
    xml_ms: float  # median: pre-flight + CII XML
    pdfa_ms: float  # median: the PDF/A-3 incremental update carrying the XML
    added_ms: float  # median of xml + pdfa, per invoice: the 2 ms budget
    added_mean_ms: float
    added_p95_ms: float
    added_ratio: float  # added / render, medians
    validate_ms: float  # median: XSD + Schematron + hybrid markers (INVOICING_EINVOICE_VALIDATE)
    schematron_compile_s: float  # once per process, before the first validation
    plain_bytes: float  # mean file size
    hybrid_bytes: float
    budget_ms: float = 2.0

    def as_dict(self) -> dict[str, float | int]:
        return asdict(self)


def run_einvoice_bench(subscribers: int, say: Callable[[str], None] = lambda _: None) -> EInvoiceBenchResult:
    """Synthetic invoices, plain and hybrid, timed part by part in this process."""
    import statistics
    from dataclasses import replace

    from sqlalchemy import select
    from sqlalchemy.orm import joinedload, selectinload

    from invoicing.billing import Period, create_run, document_for, seller_from
    from invoicing.billing.importer import import_data
    from invoicing.config import get_settings
    from invoicing.db import init_db, session_scope
    from invoicing.models import Invoice
    from invoicing.pdf import render_invoice
    from invoicing.pdf.einvoice import einvoice_for, make_hybrid
    from invoicing.pdf.einvoice.validate import validate_pdf, validate_xml
    from invoicing.synthetic import synthetic_dataset

    period = Period(2026, 10)
    root = Path(tempfile.mkdtemp(prefix="invoicing-bench-einvoice-"))
    saved = {key: os.environ.get(key) for key in ("INVOICING_DATABASE_URL", "INVOICING_OUTPUT_DIR")}
    try:
        os.environ["INVOICING_DATABASE_URL"] = f"sqlite:///{root / 'bench.db'}"
        os.environ["INVOICING_OUTPUT_DIR"] = str(root / "output")
        get_settings.cache_clear()
        settings = get_settings()
        say(f"seeding {subscribers:,} subscribers into {root}")
        init_db()
        with session_scope() as session:
            import_data(session, synthetic_dataset(subscribers, str(period), seed=1), settings)
        with session_scope() as session:
            run_id = create_run(session, settings, period).id
        # The seller's e-invoice settings, or sample identifiers where they are unset.
        seller = seller_from(settings)
        seller = replace(
            seller,
            vat_id=seller.vat_id or "DE123456788",
            country=seller.country or "DE",
            registration=seller.registration or "HRB 123456",
        )
        with session_scope() as session:
            invoices = session.scalars(
                select(Invoice)
                .where(Invoice.run_id == run_id)
                .options(selectinload(Invoice.lines), joinedload(Invoice.subscriber))
                .order_by(Invoice.seq)
            ).all()
            docs = [document_for(invoice, seller) for invoice in invoices]
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        get_settings.cache_clear()
        shutil.rmtree(root, ignore_errors=True)

    # Every synthetic invoice as a business customer's: a VAT id, and a category for 0 %.
    hybrids = [
        replace(
            doc,
            einvoice="factur-x",
            buyer_company=f"{doc.name} GmbH",
            buyer_vat_id="DE812345673",
            tax_category=None if doc.tax_rate > 0 else "Z",
        )
        for doc in docs
    ]
    say("timing plain render, XML and PDF/A per invoice")
    render, xml, pdfa, added, plain_size, hybrid_size, files = [], [], [], [], [], [], []
    for doc in hybrids:
        started = time.perf_counter()
        pdf = render_invoice(doc)
        rendered = time.perf_counter()
        einvoice = einvoice_for(doc)
        built = time.perf_counter()
        assert einvoice is not None
        hybrid = make_hybrid(pdf, einvoice)
        done = time.perf_counter()
        render.append(rendered - started)
        xml.append(built - rendered)
        pdfa.append(done - built)
        added.append(done - rendered)
        plain_size.append(len(pdf))
        hybrid_size.append(len(hybrid))
        files.append(hybrid)
    say("validating each e-invoice (XSD + Schematron)")
    first = einvoice_for(hybrids[0])
    assert first is not None
    started = time.perf_counter()
    validate_xml(first.xml)  # the first validation in this process compiles the Schematron
    compile_s = time.perf_counter() - started
    checks = []
    for hybrid in files:
        started = time.perf_counter()
        result = validate_pdf(hybrid)
        checks.append(time.perf_counter() - started)
        if not result.ok:
            raise InvoicingError(f"bench: a synthetic e-invoice is invalid: {result.violations[0]}")

    def ms(values: list[float]) -> float:
        return round(statistics.median(values) * 1000, 3)

    ordered = sorted(added)
    return EInvoiceBenchResult(
        invoices=len(hybrids),
        render_ms=ms(render),
        xml_ms=ms(xml),
        pdfa_ms=ms(pdfa),
        added_ms=ms(added),
        added_mean_ms=round(statistics.fmean(added) * 1000, 3),
        added_p95_ms=round(ordered[min(len(ordered) - 1, int(len(ordered) * 0.95))] * 1000, 3),
        added_ratio=round(statistics.median(added) / statistics.median(render), 3),
        validate_ms=ms(checks),
        schematron_compile_s=round(compile_s, 3),
        plain_bytes=round(statistics.fmean(plain_size), 1),
        hybrid_bytes=round(statistics.fmean(hybrid_size), 1),
    )
