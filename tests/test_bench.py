"""`invoicing bench` really runs both paths and reports every figure (timings are
checked by people reading its output, not asserted here)."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from invoicing.bench.outline import check_outline
from invoicing.errors import InvoicingError
from invoicing.pdf import Part, merge_pdfs, render_invoice
from tests.support.envs import Env
from tests.support.factories import invoice, synthetic_documents
from tests.support.paths import BIN
from tests.support.tools import require_tool


def test_bench_reports_both_paths(redis_env: Env) -> None:
    proc = redis_env.cli("bench", "--subscribers", "40", "--workers", "1", "--json", timeout=300)
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)
    assert {
        "subscribers",
        "workers",
        "baseline_s",
        "celery_s",
        "ratio",
        "invoices_per_s",
        "dispatch_s",
        "bytes_per_invoice",
        "merge_peak_rss_mb",
    } <= set(result)
    assert result["subscribers"] == 40 and result["workers"] == 1
    assert result["baseline_s"] > 0 and result["celery_s"] > 0
    assert abs(result["ratio"] - result["celery_s"] / result["baseline_s"]) < 0.01
    assert 500 < result["bytes_per_invoice"] < 20_000
    assert 0 < result["merge_peak_rss_mb"] < 512
    peaks = (result["worker_peak_rss_mb"], result["bench_peak_rss_mb"], result["merge_peak_rss_mb"])
    assert max(peaks) <= result["every_process_peak_rss_mb"] < 512
    # The header pre-linked every invoice, so the body parsed none of them.
    assert result["prelinked"] == 40
    # and its bookmarks, read back from the merged file, are the run's 40 invoices
    assert result["outline_invoices"] == 40
    assert 0 < result["outline_peak_rss_mb"] < 512  # the reader of the outline, apart from the run
    assert 0 < result["celery_merge_s"] < result["celery_s"]
    assert 0 < result["merge_tail_s"] < result["celery_s"]
    assert 0 < result["merge_cpu_s"] <= result["celery_merge_s"]
    # worker CPU per invoice, all-in, and render times by script
    assert result["worker_cpu_ms_per_invoice"] == round(result["worker_cpu_s"] * 1000 / 40, 3) > 0
    assert 0 <= result["worker_system_ms_per_invoice"] <= result["worker_cpu_ms_per_invoice"]
    assert result["render_latin_ms"] > 0 and result["render_shaped_ms"] > 0
    assert_projected_from(result)


def assert_projected_from(result: dict[str, Any]) -> None:
    """The projection to 1,000,000 subscribers follows from the run's own figures: issuing,
    the merging thread's CPU and the merge's tail per subscriber, the workers' CPU per
    invoice shared by the processes, dispatching per header task (the run's 40 invoices on
    one process went out as 8 tasks of 5; a million as 256 on 8 processes, 1,000 on 32,
    1,024 on 128)."""
    per_subscriber = 1_000_000 / result["subscribers"]
    tasks = {8: 256, 32: 1000, 128: 1024}
    assert [p["processes"] for p in result["projected"]] == list(tasks)
    for p in result["projected"]:
        scale = {  # each part: the figure it comes from, and how far it goes
            "issue_s": ("issue_s", per_subscriber),
            "dispatch_s": ("dispatch_s", tasks[p["processes"]] / 8),
            "render_s": ("worker_cpu_s", per_subscriber / p["processes"]),
            "merge_s": ("merge_cpu_s", per_subscriber),
            "merge_tail_s": ("merge_tail_s", per_subscriber),
        }
        for part, (figure, factor) in scale.items():
            # the figures are rounded to 1 ms, the projection to 0.1 s
            assert abs(p[part] - result[figure] * factor) <= 0.0005 * factor + 0.05, (p, part)
        assert p["subscribers"] == 1_000_000
        # the merge overlaps the rendering: the run waits for the slower of the two
        overlapped = max(p["render_s"], p["merge_s"])
        assert p["total_s"] == pytest.approx(
            p["issue_s"] + p["dispatch_s"] + overlapped + p["merge_tail_s"], abs=0.3
        )


def test_the_outline_check_reads_every_invoice_once_from_the_file(tmp_path: Path) -> None:
    # given three rendered invoices merged into one file
    parts = []
    for doc in synthetic_documents(3):
        path = tmp_path / f"{doc.number}.pdf"
        path.write_bytes(render_invoice(doc))
        parts.append(Part(path, f"{doc.number} — {doc.name}", doc.number))
    numbers = [p.label for p in parts]
    merged = merge_pdfs(parts, tmp_path / "merged.pdf").path
    # then the check finds them, in order, in the file's bookmarks
    assert check_outline(merged, numbers).invoices == 3
    # and says so when the database lists another invoice, one fewer, or another order
    for wrong, said in [
        ([*numbers, "INV-2026-10-999999"], "lists 3 invoices, the database 4"),
        (numbers[:2], "lists 3 invoices, the database 2"),
        (numbers[::-1], "lists 3 invoices, the database 3, not the same ones in the same order"),
    ]:
        with pytest.raises(InvoicingError, match=said):
            check_outline(merged, wrong)


def test_bench_without_redis_says_so(env: Env) -> None:
    proc = env.cli("bench", "--subscribers", "5", INVOICING_BROKER_URL="redis://127.0.0.1:1/0")
    assert proc.returncode == 1
    assert "cannot reach the broker redis://127.0.0.1:1/0" in proc.stderr and "Traceback" not in proc.stderr


def test_bench_table_for_people(redis_env: Env) -> None:
    # when only the billing run is measured (as for 100,000 subscribers)
    proc = redis_env.cli("bench", "--subscribers", "12", "--workers", "1", "--no-baseline", timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr
    assert "12 subscribers, 1 worker process" in proc.stdout and "process(es)" not in proc.stdout
    for row in (
        "the merge, from its start",
        "the merge after the last batch",
        "the merging thread's CPU",
        "merge (one thread's CPU)",
        "invoices pre-linked by the header",
        "merged file, bytes per invoice",
        "worker CPU during the billing run",
        "peak RSS it added",
        "per invoice, all-in",
        "of which in the kernel",
        "render one invoice, Latin (median)",
        "shaped scripts, CJK",
        "projected from these figures: 1,000,000 subscribers",
        "128 processes",
        "dispatch (per header task)",
        "largest peak RSS, every process",
        "the bench's outline reader, apart",
    ):
        assert row in proc.stdout, row
    ratio = next(line for line in proc.stdout.splitlines() if "ratio billing run / baseline" in line)
    assert "skipped (--no-baseline)" in ratio
    assert "seeding 12 subscribers" in proc.stderr  # progress goes to stderr, the table to stdout
    assert "baseline: the same invoices" not in proc.stderr


def test_bench_einvoice_reports_each_part_side_by_side(env: Env) -> None:
    # when (in this process's environment: no Redis, no workers)
    proc = env.cli("bench", "--einvoice", "--subscribers", "12", "--json", timeout=300)
    # then every figure is there; the timings are for people to read, not asserted
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)
    assert result["invoices"] == 12 and result["budget_ms"] == 2.0
    for key in ("render_ms", "xml_ms", "pdfa_ms", "added_ms", "added_p95_ms", "validate_ms"):
        assert result[key] > 0, key
    assert result["hybrid_bytes"] > result["plain_bytes"] > 500
    # and for people, a table on stdout, progress on stderr
    proc = env.cli("bench", "--einvoice", "--subscribers", "3", timeout=300)
    assert proc.returncode == 0 and "Traceback" not in proc.stderr
    for row in ("plain render (median)", "+ XML: pre-flight and CII", "+ PDF/A-3 update", "validation: XSD"):
        assert row in proc.stdout, row
    assert "seeding 3 subscribers" in proc.stderr


def test_the_probe_only_instruments_the_workers_that_ask_for_it(tmp_path: Path) -> None:
    # given a process that imports the probe as a bench worker does, with and without a file named
    check = (
        "import invoicing.bench.probe, invoicing.pdf, invoicing.run.steps as steps;"
        "print(steps.merge_pdfs is invoicing.pdf.merge_pdfs)"
    )
    figures = {"INVOICING_BENCH_FIGURES": str(tmp_path / "figures.json")}
    # when
    plain, probed = (
        subprocess.run([sys.executable, "-c", check], env=env, capture_output=True, text=True, check=True)
        for env in (Env(tmp_path).environ(), Env(tmp_path).environ(**figures))
    )
    # then
    assert (plain.stdout.strip(), probed.stdout.strip()) == ("True", "False")


def test_pdfunite_comparison_that_cannot_run_is_skipped_with_its_reason(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from invoicing import bench

    pdfs = []
    for n in range(3):
        pdf = tmp_path / f"{n}.pdf"
        pdf.write_bytes(render_invoice(invoice(number=f"INV-2026-10-00000{n}")))
        pdfs.append(pdf)
    require_tool("pdfunite", "poppler-utils", "the pdfunite comparison not run")
    # given real invoices: pdfunite merges them
    seconds, skipped = bench.time_pdfunite(pdfs, tmp_path / "all.pdf")
    assert seconds is not None and skipped is None and (tmp_path / "all.pdf").stat().st_size > 0
    # given a file that is not a PDF: the failure is a reason, not an exception
    (tmp_path / "bad.pdf").write_bytes(b"not a pdf")
    seconds, skipped = bench.time_pdfunite([*pdfs, tmp_path / "bad.pdf"], tmp_path / "x.pdf")
    assert seconds is None and skipped is not None and skipped.startswith("pdfunite failed (exit ")
    # given more files than the open-file limit allows
    monkeypatch.setattr(bench.resource, "getrlimit", lambda _: (64, 64))
    seconds, skipped = bench.time_pdfunite(pdfs * 40, tmp_path / "y.pdf")
    assert seconds is None and skipped == "pdfunite opens all 120 files at once; the open-file limit is 64"
    # given more file names than the argument limit
    monkeypatch.undo()
    monkeypatch.setattr(bench.os, "sysconf", lambda _: 4096 + 100)
    seconds, skipped = bench.time_pdfunite(pdfs, tmp_path / "z.pdf")
    assert seconds is None and skipped is not None and "bytes of arguments" in skipped


def test_bench_api_measures_both_runs_and_every_request(redis_env: Env) -> None:
    # when
    proc = redis_env.cli(
        "bench", "--api", "--subscribers", "20", "--workers", "1", "--clients", "4", "--json", timeout=600
    )
    # then both runs rendered, every request was answered, and the percentiles are in order
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)
    assert result["quiet_invoices_per_s"] > 0 and result["loaded_invoices_per_s"] > 0
    assert result["requests"] > 0 and result["errors"] == 0
    assert 0 < result["p50_ms"] <= result["p95_ms"] <= result["p99_ms"] <= result["max_ms"]


def test_bench_api_and_einvoice_are_one_or_the_other(env: Env) -> None:
    # when
    proc = env.cli("bench", "--api", "--einvoice")
    # then
    assert (proc.returncode, proc.stderr.strip()) == (2, "invoicing: error: give one of --einvoice and --api")


def test_bench_deliver_emails_every_invoice_of_the_run(redis_env: Env) -> None:
    # given
    args = ("bench", "--deliver", "--no-baseline", "--subscribers", "30", "--workers", "1", "--json")
    # when
    proc = redis_env.cli(*args, timeout=300)
    # then
    result = json.loads(proc.stdout)
    assert (proc.returncode, result["delivered"], result["messages_per_s"] > 0) == (0, 30, True), proc.stderr


def test_bench_api_says_what_load_it_offered_and_what_it_cost(redis_env: Env) -> None:
    # when 3 clients poll every 0.01 s, all at once, while 200 invoices render: enough
    # requests for the server's CPU to show in /proc's 10 ms clock ticks
    proc = redis_env.cli(
        "bench", "--api", "--subscribers", "200", "--workers", "1", "--clients", "3",
        "--poll-interval", "0.01", "--json", timeout=600,
    )  # fmt: skip
    # then the load offered is the clients' polls, each client was answered at least once,
    # and the server's and the clients' CPU were measured apart
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)
    assert (result["clients"], result["poll_interval_s"], result["offered_per_s"]) == (3, 0.01, 300.0)
    assert result["requests"] >= 3 and result["errors"] == 0 and result["requests_per_s"] > 0
    assert result["server_cpu_ms_per_request"] > 0 and result["server_cores"] > 0
    assert result["client_cpu_ms_per_request"] > 0 and result["client_cores"] > 0


def test_bench_on_a_database_named_fills_it_and_then_refuses_it(redis_env: Env, pg_env: Env) -> None:
    # given an empty PostgreSQL database
    url = pg_env.vars["INVOICING_DATABASE_URL"]
    args = ("bench", "--database-url", url, "--workers", "1", "--no-baseline", "--json")
    # when the bench runs on it
    proc = pg_env.cli(*args, "--subscribers", "30", timeout=300)
    # then it bills there, every figure as on its own SQLite file, and leaves it filled
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)
    assert result["subscribers"] == 30 and result["issue_s"] > 0 and result["dispatch_s"] > 0
    assert [p["processes"] for p in result["projected"]] == [8, 32, 128]
    before = rows_in(url)
    assert (before["subscribers"], before["invoices"], before["billing_runs"]) == (30, 30, 1)
    # when it is asked to run on it again
    proc = pg_env.cli(*args, "--subscribers", "5", timeout=120)
    # then it refuses in one line, having written nothing
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert proc.stderr.strip().splitlines() == [
        "invoicing: error: bench: the database postgresql+psycopg://***@127.0.0.1:5432/"
        f"{url.rsplit('/', 1)[1]} holds data (in billing_runs, charges, invoice_lines and "
        f"{len(before) - 3} more); the bench fills the database it is given, so name an empty one"
    ]
    assert rows_in(url) == before


def rows_in(url: str) -> dict[str, int]:
    """Rows per table of the database at `url` (the tables that hold any)."""
    from sqlalchemy import create_engine, func, inspect, select, table

    engine = create_engine(url)
    try:
        with engine.connect() as connection:
            counts = {
                name: connection.execute(select(func.count()).select_from(table(name))).scalar_one()
                for name in inspect(connection).get_table_names()
                if name != "alembic_version"
            }
    finally:
        engine.dispose()
    return {name: count for name, count in counts.items() if count}


def test_bench_database_url_is_for_the_billing_runs_bench(env: Env) -> None:
    # when
    proc = env.cli("bench", "--einvoice", "--database-url", "sqlite:///elsewhere.db")
    # then
    assert (proc.returncode, proc.stderr.strip()) == (
        2,
        "invoicing: error: --database-url is for the billing run's bench, not --einvoice or --api",
    )


def test_a_bench_stopped_with_sigterm_leaves_no_worker_and_no_folder(redis_env: Env) -> None:
    # given a bench whose throw-away folder is made in this test's own temporary folder
    scratch = redis_env.path / "scratch"
    scratch.mkdir()
    args = ("bench", "--subscribers", "3000", "--workers", "1", "--no-baseline")
    proc = subprocess.Popen(
        [str(BIN / "invoicing"), *args],
        cwd=redis_env.path,
        env=redis_env.environ(TMPDIR=str(scratch)),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        # when its worker is up and rendering (the worker's log is in the bench's folder)
        deadline = time.monotonic() + 240
        workers: list[int] = []
        while not workers and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.5)
            if list(scratch.glob("invoicing-bench-*/worker.log")):
                children = Path(f"/proc/{proc.pid}/task/{proc.pid}/children").read_text().split()
                workers = [int(pid) for pid in children if "celery" in _cmdline(int(pid))]
        assert workers, (proc.poll(), proc.stderr.read() if proc.poll() is not None else "")
        # and it is sent SIGTERM, as a job's time limit would
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    # then it exits as terminated, having stopped its worker and removed its folder
    assert proc.returncode == 128 + signal.SIGTERM, proc.stderr.read()
    assert "Traceback" not in proc.stderr.read()
    assert not any(Path(f"/proc/{pid}").exists() and "celery" in _cmdline(pid) for pid in workers)
    assert list(scratch.iterdir()) == []


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""
