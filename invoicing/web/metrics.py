"""/metrics in the Prometheus text format (prometheus-client).

The billing figures are read from the database at scrape time, so every server behind
one address reports the same and a restart loses nothing: runs by status and kind,
invoices by status, the render and merge durations of the latest finished run of each
kind, each open run's progress, and the stalled runs. Besides, this server's own HTTP
requests by route and status, and their latencies.
"""

from __future__ import annotations

from collections.abc import Iterator, MutableMapping
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy import func, select

from invoicing.config import get_settings
from invoicing.db import session_scope
from invoicing.models import BillingRun, Invoice, InvoiceStatus, RunKind, RunStatus
from invoicing.run.state import FINAL, aware, is_stalled


class BillingCollector(Collector):
    def collect(self) -> Iterator[Metric]:
        settings = get_settings()
        runs = GaugeMetricFamily(
            "invoicing_runs", "Billing runs by status and kind.", labels=["status", "kind"]
        )
        invoices = GaugeMetricFamily(
            "invoicing_invoices", "Invoices and credit notes by status.", labels=["status"]
        )
        render = GaugeMetricFamily(
            "invoicing_last_run_render_seconds",
            "The latest finished run of each kind: from dispatch to its last invoice rendered.",
            labels=["kind"],
        )
        merge = GaugeMetricFamily(
            "invoicing_last_run_merge_seconds",
            "The latest finished run of each kind: from its last invoice rendered to finished.",
            labels=["kind"],
        )
        progress = GaugeMetricFamily(
            "invoicing_open_run_progress_ratio",
            "Each open run's invoices done (rendered or failed) over its invoices.",
            labels=["run_id", "period", "kind"],
        )
        stalled = GaugeMetricFamily("invoicing_stalled_runs", "Open runs nobody is working on any more.")
        with session_scope() as session:
            counted = {(s, k): 0 for s in RunStatus for k in RunKind}
            for status, kind, count in session.execute(
                select(BillingRun.status, BillingRun.kind, func.count()).group_by(
                    BillingRun.status, BillingRun.kind
                )
            ):
                counted[(status, kind)] = count
            for (status, kind), count in counted.items():
                runs.add_metric([status.value, kind.value], count)
            by_status = {status: 0 for status in InvoiceStatus}
            for state, count in session.execute(
                select(Invoice.status, func.count()).group_by(Invoice.status)
            ):
                by_status[state] = count
            for state, count in by_status.items():
                invoices.add_metric([state.value], count)
            for kind in RunKind:
                last = session.scalar(
                    select(BillingRun)
                    .where(
                        BillingRun.kind == kind,
                        BillingRun.status.in_(FINAL),
                        BillingRun.finished_at.is_not(None),
                    )
                    .order_by(BillingRun.finished_at.desc())
                    .limit(1)
                )
                if last is None or last.finished_at is None:
                    continue
                rendered = session.scalar(
                    select(func.max(Invoice.rendered_at)).where(Invoice.run_id == last.id)
                )
                start = aware(last.dispatched_at or last.created_at)
                end = aware(last.finished_at)
                done = aware(rendered) if rendered is not None else start
                render.add_metric([kind.value], max(0.0, (done - start).total_seconds()))
                merge.add_metric([kind.value], max(0.0, (end - done).total_seconds()))
            open_runs = session.scalars(select(BillingRun).where(BillingRun.status.not_in(FINAL))).all()
            stuck = 0
            for run in open_runs:
                done_count = session.scalar(
                    select(func.count()).where(
                        Invoice.run_id == run.id, Invoice.status != InvoiceStatus.PENDING
                    )
                )
                ratio = (done_count or 0) / run.invoice_count if run.invoice_count else 1.0
                progress.add_metric([str(run.id), run.period, run.kind.value], ratio)
                stuck += is_stalled(session, run, settings)
            stalled.add_metric([], stuck)
        yield from (runs, invoices, render, merge, progress, stalled)


class Metrics:
    """The registry one app serves, with its HTTP request metrics."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.registry.register(BillingCollector())
        self.requests = Counter(
            "invoicing_http_requests",
            "HTTP requests answered, by route and status.",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "invoicing_http_request_seconds",
            "Time to answer an HTTP request, by route.",
            ["method", "route"],
            registry=self.registry,
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.2, 0.5, 1, 2.5, 5, 10),
        )

    def observe(self, method: str, route: str, status: int, seconds: float) -> None:
        self.requests.labels(method, route, str(status)).inc()
        self.latency.labels(method, route).observe(seconds)


def route_of(scope: MutableMapping[str, Any]) -> str:
    """The route's template (/runs/{run_id}), never the path: one series per route."""
    route = scope.get("route")
    return getattr(route, "path", None) or "unmatched"
