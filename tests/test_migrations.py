"""Schema migrations on a database that holds data: a database populated at revision
0001 (runs, invoices and their lines) is upgraded to the newest revision with every row
intact, on SQLite (in place, and by copying tables as SQLite before 3.35 must) and on
PostgreSQL."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import pytest
import sqlalchemy as sa
from alembic import command

from invoicing.db import _alembic_config, get_engine, init_db
from invoicing.models import Exact
from tests.support.envs import Env

HEAD = "0012"
DROPPED = {"billing_runs": "chord_id", "invoices": "attempts"}
D = Decimal
MOMENT = datetime(2026, 11, 1, 2, 0, 5, tzinfo=UTC)

# The tables as revision 0001 made them, as far as this test writes them.
AT_0001 = sa.MetaData()
sa.Table(
    "plans",
    AT_0001,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("code", sa.String),
    sa.Column("name", sa.String),
    sa.Column("monthly_fee", Exact(18, 6)),
    sa.Column("currency", sa.String),
)
sa.Table(
    "subscribers",
    AT_0001,
    *(sa.Column(name, sa.String) for name in ("account", "name", "email", "country", "locale", "currency")),
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("address", sa.JSON),
    sa.Column("tax_rate", Exact(6, 3)),
    sa.Column("plan_id", sa.Integer),
    sa.Column("active_from", sa.Date),
    sa.Column("active_to", sa.Date),
)
sa.Table(
    "charges",
    AT_0001,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("subscriber_id", sa.Integer),
    sa.Column("period", sa.String),
    sa.Column("description", sa.String),
    sa.Column("quantity", Exact(16, 4)),
    sa.Column("unit_price", Exact(18, 6)),
)
sa.Table(
    "billing_runs",
    AT_0001,
    sa.Column("id", sa.Integer, primary_key=True),
    *(sa.Column(name, sa.String) for name in ("period", "status", "output_path", "sha256", "dispatched_by")),
    *(sa.Column(name, sa.DateTime(timezone=True)) for name in ("created_at", "dispatched_at", "finished_at")),
    *(sa.Column(name, sa.Integer) for name in ("invoice_count", "failed_count", "pages")),
    sa.Column("error", sa.Text),
    sa.Column("chord_id", sa.String),
)
sa.Table(
    "invoices",
    AT_0001,
    sa.Column("id", sa.Integer, primary_key=True),
    *(sa.Column(name, sa.Integer) for name in ("run_id", "subscriber_id", "seq", "pages", "attempts")),
    *(
        sa.Column(name, sa.String)
        for name in ("period", "number", "status", "currency", "pdf_path", "sha256")
    ),
    sa.Column("issue_date", sa.Date),
    sa.Column("due_date", sa.Date),
    *(sa.Column(name, Exact(18, 4)) for name in ("subtotal", "tax", "total")),
    sa.Column("tax_rate", Exact(6, 3)),
    sa.Column("error", sa.Text),
    sa.Column("rendered_at", sa.DateTime(timezone=True)),
)
sa.Table(
    "invoice_lines",
    AT_0001,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("invoice_id", sa.Integer),
    sa.Column("position", sa.Integer),
    sa.Column("description", sa.String),
    sa.Column("quantity", Exact(16, 4)),
    sa.Column("unit_price", Exact(18, 6)),
    sa.Column("amount", Exact(18, 4)),
)

ROWS: dict[str, list[dict[str, Any]]] = {
    "plans": [{"id": 1, "code": "basic", "name": "Basic", "monthly_fee": D("9.90"), "currency": "EUR"}],
    "subscribers": [
        {
            "id": n,
            "account": f"A-000{n}",
            "name": name,
            "email": f"a{n}@example.org",
            "address": ["Hauptstr. 1", "10115 Berlin"],
            "country": "DE",
            "locale": "de_DE",
            "currency": "EUR",
            "tax_rate": D("19.000"),
            "plan_id": 1,
            "active_from": date(2026, 1, 1),
            "active_to": None,
        }
        for n, name in ((1, "Jürgen Müller"), (2, "Zoë Ångström"))
    ],
    "charges": [
        # billed by invoice 1 (same subscriber and period); and one for a month never billed
        {"id": 1, "subscriber_id": 1, "period": "2026-10", "description": "Roaming data 2 GB"},
        {"id": 2, "subscriber_id": 2, "period": "2026-09", "description": "SMS bundle"},
    ],
    "billing_runs": [
        {
            "id": 1,
            "period": "2026-10",
            "status": "completed_with_errors",
            "created_at": MOMENT,
            "dispatched_at": MOMENT,
            "finished_at": MOMENT,
            "invoice_count": 2,
            "failed_count": 1,
            "pages": 1,
            "output_path": "/srv/invoices/2026-10/billing-run-1.pdf",
            "sha256": "ab" * 32,
            "chord_id": "5f1d3c2e-0000-4000-8000-000000000001",
            "dispatched_by": "celery:worker-1",
            "error": None,
        }
    ],
    "invoices": [
        {
            "id": n,
            "run_id": 1,
            "subscriber_id": n,
            "period": "2026-10",
            "seq": n,
            "number": f"INV-2026-10-00000{n}",
            "status": status,
            "issue_date": date(2026, 11, 1),
            "due_date": date(2026, 11, 15),
            "currency": "EUR",
            "subtotal": D("13.4000"),
            "tax_rate": D("19.000"),
            "tax": D("2.5500"),
            "total": D("15.9500"),
            "pdf_path": f"/srv/invoices/2026-10/INV-2026-10-00000{n}.pdf" if status == "rendered" else None,
            "sha256": "cd" * 32 if status == "rendered" else None,
            "pages": 1 if status == "rendered" else None,
            "error": None if status == "rendered" else "unknown locale 'xx_XX'",
            "attempts": attempts,
            "rendered_at": MOMENT,
        }
        for n, status, attempts in ((1, "rendered", 1), (2, "failed", 3))
    ],
    "invoice_lines": [
        {
            "id": n,
            "invoice_id": invoice,
            "position": position,
            "description": description,
            "quantity": D(quantity),
            "unit_price": D(price),
            "amount": D(amount),
        }
        for n, (invoice, position, description, quantity, price, amount) in enumerate(
            [
                (1, 1, "Basic (October 2026)", "1", "9.90", "9.90"),
                (1, 2, "Roaming data 2 GB", "2", "1.75", "3.50"),
                (2, 1, "Basic (October 2026)", "1", "9.90", "9.90"),
            ],
            1,
        )
    ],
}


for _charge in ROWS["charges"]:
    _charge.update(quantity=D("2.0000"), unit_price=D("1.750000"))


def populate_at_0001(url: str) -> None:
    assert init_db(url, revision="0001") == "0001"
    with get_engine(url).begin() as connection:
        for name, rows in ROWS.items():  # referenced tables first
            connection.execute(AT_0001.tables[name].insert(), rows)


def read_back(url: str, without: dict[str, str] | None = None) -> dict[str, list[dict[str, Any]]]:
    """Every row written, read back through the same column types, in id order."""
    without = without or {}
    with get_engine(url).connect() as connection:
        return {
            table.name: [
                dict(row._mapping)
                for row in connection.execute(
                    sa.select(*(c for c in table.columns if c.name != without.get(table.name))).order_by(
                        table.c.id
                    )
                )
            ]
            for table in AT_0001.tables.values()
        }


def columns(url: str, table: str) -> set[str]:
    with get_engine(url).connect() as connection:
        return {c["name"] for c in sa.inspect(connection).get_columns(table)}


def expected(without: dict[str, str]) -> dict[str, list[dict[str, Any]]]:
    return {
        table: [{k: v for k, v in row.items() if k != without.get(table)} for row in rows]
        for table, rows in ROWS.items()
    }


def same_moments(rows: dict[str, list[dict[str, Any]]]) -> dict[str, list[dict[str, Any]]]:
    # SQLite hands datetimes back naive; everything stored here is UTC.
    return {
        table: [
            {
                k: v.replace(tzinfo=UTC) if isinstance(v, datetime) and v.tzinfo is None else v
                for k, v in row.items()
            }
            for row in table_rows
        ]
        for table, table_rows in rows.items()
    }


def _utc(value: Any) -> Any:
    return value.replace(tzinfo=UTC) if isinstance(value, datetime) and value.tzinfo is None else value


def check_upgrade_keeps_every_row(env: Env) -> None:
    url = env.vars["INVOICING_DATABASE_URL"]
    # when
    revision = init_db(url)
    # then the two columns are gone and everything else is as it was
    assert revision == HEAD
    for table, column in DROPPED.items():
        assert column not in columns(url, table)
    assert same_moments(read_back(url, DROPPED)) == expected(DROPPED)
    # and the command works on the upgraded database
    status = env.cli("status", "1", "--json")
    assert status.returncode == 3, status.stderr
    data = json.loads(status.stdout)
    assert (data["run_id"], data["status"], data["invoices"], data["failed"]) == (
        1,
        "completed_with_errors",
        2,
        1,
    )
    assert [f["account"] for f in data["failures"]] == ["A-0002"]
    assert data["volumes"] == []  # merged before volumes were recorded: its one file is output
    check_month_after_month_backfill(url)


def check_month_after_month_backfill(url: str) -> None:
    """0003: each invoice keeps the bill-to it was rendered from, each charge the invoice
    that billed it and a key of its own; the run is the first of its period."""
    with get_engine(url).connect() as connection:
        invoices = connection.execute(
            sa.text("SELECT id, kind, bill_name, bill_address, bill_locale FROM invoices ORDER BY id")
        ).all()
        charges = connection.execute(
            sa.text("SELECT id, invoice_id, source_key FROM charges ORDER BY id")
        ).all()
        runs = connection.execute(sa.text("SELECT id, seq, kind FROM billing_runs")).all()
    assert [(i.id, i.kind, i.bill_name, i.bill_locale) for i in invoices] == [
        (1, "invoice", "Jürgen Müller", "de_DE"),
        (2, "invoice", "Zoë Ångström", "de_DE"),
    ]
    assert all(_json(i.bill_address) == ["Hauptstr. 1", "10115 Berlin"] for i in invoices)
    assert [tuple(c) for c in charges] == [(1, 1, "legacy:1"), (2, None, "legacy:2")]
    assert [tuple(r) for r in runs] == [(1, 1, "billing")]
    # they were rendered as plain PDFs: no e-invoice inputs, and none for the subscribers
    with get_engine(url).connect() as connection:
        frozen = connection.execute(
            sa.text(
                "SELECT bill_einvoice, bill_buyer_reference, bill_email, bill_tax_category,"
                " bill_exemption_reason, bill_company, bill_vat_id FROM invoices"
            )
        ).all()
        subscribers = connection.execute(
            sa.text("SELECT einvoice, vat_id, tax_category, exemption_reason FROM subscribers")
        ).all()
    assert {tuple(row) for row in frozen} == {(None,) * 7}
    assert {tuple(row) for row in subscribers} == {(None,) * 4}


def _json(value: Any) -> Any:
    return json.loads(value) if isinstance(value, str) else value


def check_volumes_table_comes_and_goes(url: str) -> None:
    """0004: run_volumes holds a run's files; downgrading drops it, upgrading brings it back empty."""
    row = {"run_id": 1, "number": 1, "output_path": "/out/billing-run-1-vol-001.pdf", "sha256": "0" * 64}
    with get_engine(url).begin() as connection:
        connection.execute(
            sa.text(
                "INSERT INTO run_volumes (run_id, number, output_path, sha256, pages, invoices)"
                " VALUES (:run_id, :number, :output_path, :sha256, 2, 1)"
            ),
            row,
        )
    command.downgrade(_alembic_config(url), "0003")
    with get_engine(url).connect() as connection:
        assert "run_volumes" not in sa.inspect(connection).get_table_names()
    assert init_db(url) == HEAD
    with get_engine(url).connect() as connection:
        assert connection.execute(sa.text("SELECT count(*) FROM run_volumes")).scalar() == 0


def check_downgrade_brings_the_columns_back(env: Env) -> None:
    url = env.vars["INVOICING_DATABASE_URL"]
    # when
    command.downgrade(_alembic_config(url), "0001")
    # then every row is there, the two columns too (a run's chord unknown, attempts 0)
    assert same_moments(read_back(url, DROPPED)) == expected(DROPPED)
    restored = read_back(url)
    assert [row["chord_id"] for row in restored["billing_runs"]] == [None]
    assert [row["attempts"] for row in restored["invoices"]] == [0, 0]
    assert init_db(url) == HEAD


def test_upgrade_on_sqlite(env: Env) -> None:
    # given a database with a run, its invoices and their lines at revision 0001
    populate_at_0001(env.vars["INVOICING_DATABASE_URL"])
    # then
    check_upgrade_keeps_every_row(env)
    check_volumes_table_comes_and_goes(env.vars["INVOICING_DATABASE_URL"])
    check_downgrade_brings_the_columns_back(env)


def test_upgrade_on_sqlite_before_3_35_copies_tables_and_keeps_their_references(
    env: Env, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Such SQLite cannot drop a column, so the migration copies the table. Dropping the old
    copy of invoices with foreign keys on would delete its invoice lines (ON DELETE
    CASCADE): migrations run with them off."""
    # given a database at 0001 that SQLAlchemy takes for SQLite 3.34
    url = env.vars["INVOICING_DATABASE_URL"]
    populate_at_0001(url)
    engine = get_engine(url)
    monkeypatch.setattr(engine.dialect, "server_version_info", (3, 34, 1))
    # then
    check_upgrade_keeps_every_row(env)
    with engine.connect() as connection:
        assert connection.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
        assert connection.exec_driver_sql("PRAGMA foreign_key_check").all() == []
        ddl = connection.exec_driver_sql(
            "SELECT sql FROM sqlite_master WHERE name = 'invoice_lines'"
        ).scalar()
    assert "REFERENCES invoices" in ddl.replace('"', "") and "ON DELETE CASCADE" in ddl


@pytest.mark.postgres
def test_upgrade_on_postgres(pg_env: Env) -> None:
    # given a database with a run, its invoices and their lines at revision 0001
    populate_at_0001(pg_env.vars["INVOICING_DATABASE_URL"])
    # then
    check_upgrade_keeps_every_row(pg_env)
    check_volumes_table_comes_and_goes(pg_env.vars["INVOICING_DATABASE_URL"])
    check_downgrade_brings_the_columns_back(pg_env)


def test_the_migrations_make_every_column_the_models_have(env: Env) -> None:
    """A column added to a model but not to a migration (or the reverse) is caught here."""
    from invoicing.models import Base

    # given a database the migrations made
    url = env.vars["INVOICING_DATABASE_URL"]
    init_db(url)
    # then each table has exactly the model's columns
    for table in Base.metadata.sorted_tables:
        assert columns(url, table.name) == {c.name for c in table.columns}, table.name
