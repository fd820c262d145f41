"""Issuing a run in bulk: every invoice as the money rule computes it, on SQLite and
PostgreSQL, numbered without a gap in account order; and the header's batches as
ranges of the run's invoices, each rendering only what is left to render."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func, select, text, update
from sqlalchemy.orm import Session

from invoicing.billing import Period, create_run
from invoicing.billing.importer import import_data
from invoicing.config import get_settings
from invoicing.db import init_db, session_scope
from invoicing.models import (
    BillingRun,
    Invoice,
    InvoiceLineRow,
    InvoiceStatus,
    RunKind,
    RunStatus,
    Subscriber,
)
from invoicing.run.arguments import InvoiceRange
from invoicing.run.dispatch import batch_size, ranges, run_ranges
from invoicing.run.steps import invoices_in, parts_after
from invoicing.synthetic import synthetic_dataset
from tests.support.envs import Env
from tests.support.money import off_the_money_rule

PERIOD = Period(2026, 10)
# Late charges whose amounts fall on a half minor unit (2.345 EUR, 0.5 JPY): half up,
# never half to even.
HALVES = (("1", "2.345"), ("3", "0.166665"), ("1", "0.5"), ("2", "1.0025"))


def dataset(count: int) -> dict[str, Any]:
    """`count` synthetic subscribers (every currency, part months), their October
    charges, and for every fifth one late September and August charges."""
    data = synthetic_dataset(count, str(PERIOD), seed=29)
    for n, subscriber in enumerate(data["subscribers"][::5]):
        for k, (quantity, unit_price) in enumerate(HALVES):
            data["charges"].append(
                {
                    "id": f"late-{n}-{k}",
                    "account": subscriber["account"],
                    "period": "2026-09" if k % 2 else "2026-08",
                    "description": "Roaming late",
                    "quantity": quantity,
                    "unit_price": unit_price,
                }
            )
    return data


def issued(count: int) -> int:
    """A database with `dataset(count)`, its October run issued in this process; its id."""
    init_db()
    with session_scope() as session:
        import_data(session, dataset(count))
    with session_scope() as session:
        return create_run(session, get_settings(), PERIOD).id


def test_every_invoice_follows_the_money_rule_on_sqlite(env: Env) -> None:
    # given a run issued for subscribers in every currency, with late charges
    run_id = issued(300)
    # then every invoice's lines and totals are the rule's
    assert off_the_money_rule(run_id) == []


def test_every_invoice_follows_the_money_rule_on_postgres(pg_env: Env) -> None:
    # given a run issued for subscribers in every currency, with late charges
    run_id = issued(300)
    # then every invoice's lines and totals are the rule's
    assert off_the_money_rule(run_id) == []


def test_an_issued_run_gives_postgresql_the_statistics_the_workers_look_ups_need(pg_env: Env) -> None:
    """The workers read a batch's invoices and lines by id, planned on the tables as the
    run wrote them, not as PostgreSQL last saw them (never, in a fresh database), whether
    or not autovacuum runs."""
    init_db()
    with session_scope() as session:
        import_data(session, dataset(300))

    def planned_rows(session: Session) -> list[float]:
        known = "SELECT reltuples FROM pg_class WHERE relname = :name"
        return [session.scalar(text(known), {"name": name}) for name in ("invoices", "invoice_lines")]

    with session_scope() as session:
        assert planned_rows(session) == [-1, -1]  # never analyzed
        run = create_run(session, get_settings(), PERIOD)
        invoices, lines = planned_rows(session)  # in the run's own transaction
        written = session.scalar(select(func.count()).select_from(InvoiceLineRow))
    assert (invoices, lines) == (run.invoice_count, written)
    assert 300 <= lines


def test_numbers_run_from_one_without_a_gap_in_account_order(env: Env) -> None:
    # given a run issued across several chunks of subscribers
    run_id = issued(2300)
    # when its invoices are read in number order
    with session_scope() as session:
        rows = session.execute(
            select(Invoice.seq, Invoice.number, Subscriber.account)
            .join(Subscriber, Subscriber.id == Invoice.subscriber_id)
            .where(Invoice.run_id == run_id)
            .order_by(Invoice.seq)
        ).all()
    # then they are numbered 1..N, one per subscriber, in account order
    accounts = [row.account for row in rows]
    expected = [(n, f"INV-2026-10-{n:06d}") for n in range(1, len(rows) + 1)]
    assert ([(row.seq, row.number) for row in rows], accounts) == (expected, sorted(set(accounts)))


def test_ranges_cover_each_invoice_once(env: Env) -> None:
    # given the ids of a run's invoices, out of order
    ids = [9, 3, 4, 12, 5, 10, 11, 1]
    # when they are cut into ranges of three
    cut = ranges(7, ids, 3)
    # then the ranges are disjoint, in id order, and hold every id once
    assert cut == [InvoiceRange(7, 1, 4), InvoiceRange(7, 5, 10), InvoiceRange(7, 11, 12)]


def test_a_range_names_only_its_runs_invoices_not_rendered_yet(env: Env) -> None:
    # given a run whose every other invoice is rendered
    run_id = issued(12)
    with session_scope() as session:
        ids = list(session.scalars(select(Invoice.id).where(Invoice.run_id == run_id).order_by(Invoice.seq)))
        session.execute(update(Invoice).where(Invoice.id.in_(ids[::2])).values(status=InvoiceStatus.RENDERED))
    # when a range spanning all of them, and beyond, is looked up
    named = invoices_in(InvoiceRange(run_id, ids[0], ids[-1] + 1000))
    # then it names the others, in number order
    assert named == ids[1::2]


def ranges_from_the_database_are_those_of_the_ids(workers: int) -> None:
    """`run_ranges` (no ids read) against `ranges` over the run's ids, for a run whose ids
    are consecutive and then for one with another run's invoices among them."""
    run_id = issued(300)
    settings = get_settings().model_copy(update={"batch_size": 0})
    size = batch_size(300, workers, settings)
    with session_scope() as session:
        ids = list(session.scalars(select(Invoice.id).where(Invoice.run_id == run_id).order_by(Invoice.id)))
        consecutive = run_ranges(session, run_id, workers, settings)
    assert ids == list(range(ids[0], ids[0] + 300))
    assert consecutive == ranges(run_id, ids, size) and len(consecutive) > 2
    # given every seventh invoice, and the tail, moved to a run of their own
    moved = set(ids[3::7]) | set(ids[-10:])
    with session_scope() as session:
        other = BillingRun(period="2026-11", seq=1, kind=RunKind.BILLING, status=RunStatus.COMPLETED)
        other.created_at = datetime.now(UTC)
        session.add(other)
        session.flush()
        session.execute(update(Invoice).where(Invoice.id.in_(moved)).values(run_id=other.id))
    kept = [i for i in ids if i not in moved]
    with session_scope() as session:
        gapped = run_ranges(session, run_id, workers, settings)
    # then the ranges are the same as from the ids: exact ends, as many invoices in each
    assert gapped == ranges(run_id, kept, batch_size(len(kept), workers, settings))
    assert gapped[-1].last_id == kept[-1] < ids[-1]


def test_ranges_from_the_database_are_those_of_the_runs_ids_on_sqlite(env: Env) -> None:
    ranges_from_the_database_are_those_of_the_ids(workers=3)


def test_ranges_from_the_database_are_those_of_the_runs_ids_on_postgres(pg_env: Env) -> None:
    ranges_from_the_database_are_those_of_the_ids(workers=3)


def test_the_merge_reads_a_chunk_of_a_run_not_the_whole_run_whatever_postgresql_last_saw(
    pg_env: Env,
) -> None:
    """The body lists the run's invoices for the merge a chunk at a time. PostgreSQL's
    statistics are those the issue took, when every invoice was pending; each chunk
    still reads only its own invoices (at a million, reading the whole run for each
    chunk took 0.73 s a chunk, 500 chunks)."""
    init_db()
    with session_scope() as session:
        import_data(session, dataset(3000))
    with session_scope() as session:
        run_id = create_run(session, get_settings(), PERIOD).id
    with session_scope() as session:  # rendered, as the workers record it; nobody analyzes
        session.execute(
            update(Invoice)
            .where(Invoice.run_id == run_id)
            .values(status=InvoiceStatus.RENDERED, pdf_path="x.pdf", sha256="0" * 64)
        )
    chunk = 100
    with session_scope() as session:
        query = parts_after(run_id, 1000, chunk).compile(
            session.get_bind(), compile_kwargs={"literal_binds": True}
        )
        plan = session.scalar(text(f"EXPLAIN (ANALYZE, FORMAT JSON) {query}"))

    def invoices_read(node: dict[str, Any]) -> float:
        own = 0.0
        if node.get("Relation Name") == "invoices":
            own = (node["Actual Rows"] + node.get("Rows Removed by Filter", 0)) * node["Actual Loops"]
        return own + sum(invoices_read(child) for child in node.get("Plans", ()))

    assert invoices_read(plan[0]["Plan"]) <= chunk
