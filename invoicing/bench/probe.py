"""Instrumentation for the workers `invoicing bench` starts, and for no others.

The bench starts its workers with `--include invoicing.bench.probe` and names a file
in INVOICING_BENCH_FIGURES. In those workers the chord body's merge (steps'
`merge_pdfs`) is wrapped: peak memory is reset before it and read after it, the merge
is timed and its thread's CPU counted, and the figures (with how many invoices it took
pre-linked) are written to that file for the bench to read. For the merge's tail, the
moment each header batch has committed (`render_invoices` returned) and the moment the
body has recorded the run (`merge_run_invoices` returned) are appended, as Unix times,
to `<that file>.batches` and written to `<that file>.body`. Imported anywhere else, it
changes nothing.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from invoicing.bench import PROBE_FIGURES
from invoicing.bench.rss import peak_rss_mb, reset_peak_rss
from invoicing.files import atomic_file
from invoicing.pdf import Merged, Part
from invoicing.run import steps


def _install(target: Path) -> None:
    merge = steps.merge_pdfs

    def measured_merge(parts: Iterable[Part], output: Path | str, *args: Any, **kwargs: Any) -> Merged:
        # The body hands in a generator over the database: reading it is part of the merge.
        reset_peak_rss()
        started, cpu = time.perf_counter(), time.thread_time()
        merged = merge(parts, output, *args, **kwargs)
        figures = {
            "merge_s": time.perf_counter() - started,
            # the merging thread's own CPU: its pace, whatever it waited for
            "merge_cpu_s": time.thread_time() - cpu,
            "peak_rss_mb": peak_rss_mb(),
            "prelinked": merged.prelinked,
        }
        with atomic_file(target) as handle:
            handle.write(json.dumps(figures).encode())
        return merged

    steps.merge_pdfs = measured_merge

    render, record = steps.render_invoices, steps.merge_run_invoices

    def timed_render(*args: Any, **kwargs: Any) -> Any:
        outcomes = render(*args, **kwargs)
        with open(f"{target}.batches", "a", encoding="ascii") as handle:  # one short line, appended
            handle.write(f"{time.time():.6f}\n")
        return outcomes

    def timed_record(*args: Any, **kwargs: Any) -> Any:
        summary = record(*args, **kwargs)
        Path(f"{target}.body").write_text(f"{time.time():.6f}", encoding="ascii")
        return summary

    steps.render_invoices = timed_render
    steps.merge_run_invoices = timed_record


if os.environ.get(PROBE_FIGURES):
    _install(Path(os.environ[PROBE_FIGURES]))
