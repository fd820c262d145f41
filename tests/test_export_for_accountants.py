"""`invoicing export` for an accountant: index.csv names the bill-to company apart from
its contact, both VAT ids, net, tax and total; credit notes are rows of their own with
negative amounts, and their files are in the ZIP; `export --period` puts every run of
a period (run, supplement, credit notes) into one ZIP. Read back with the csv module
and pypdf."""

from __future__ import annotations

import csv
import io
import json
import zipfile
from decimal import Decimal
from pathlib import Path
from typing import Any

from pypdf import PdfReader
from sqlalchemy import select

from invoicing.db import session_scope
from invoicing.models import Invoice, Subscriber
from tests.support.einvoices import seed_b2b, with_seller
from tests.support.envs import Env
from tests.support.runs import run_json

COLUMNS = [
    "number",
    "type",
    "issue_date",
    "credits",
    "account",
    "company",
    "contact",
    "seller_vat_id",
    "buyer_vat_id",
    "net",
    "tax",
    "total",
    "currency",
    "file",
    "sha256",
]


def exported(env: Env, *args: str) -> tuple[dict[str, Any], list[dict[str, str]], dict[str, bytes]]:
    """`invoicing export ARGS --json`: its summary, the index's rows and the members."""
    proc = env.cli("export", *args, "--json")
    assert proc.returncode == 0, proc.stderr
    summary = json.loads(proc.stdout)
    with zipfile.ZipFile(summary["output"]) as archive:
        assert archive.testzip() is None
        text = archive.read("index.csv").decode("utf-8")
        members = {name: archive.read(name) for name in archive.namelist() if name != "index.csv"}
    reader = csv.DictReader(io.StringIO(text, newline=""))
    assert reader.fieldnames == COLUMNS
    return summary, list(reader), members


def credit(env: Env, number: str, *args: str) -> dict[str, Any]:
    proc = env.cli("credit", number, *args, "--json")
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def pdf_text(body: bytes) -> str:
    return "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(body)).pages)


def b2b_run(env: Env) -> tuple[dict[str, Any], str]:
    """The fixtures and the business customers billed for October: the run, and the
    number of B-0001's invoice."""
    with_seller(env)
    seed_b2b(env)
    run = run_json(env, "--period", "2026-10")
    status = json.loads(env.cli("status", str(run["run_id"]), "--json", check=True).stdout)
    assert status["invoices"] >= 20
    with session_scope() as session:
        number = session.scalar(
            select(Invoice.number)
            .join(Subscriber)
            .where(Subscriber.account == "B-0001", Invoice.period == "2026-10")
        )
    return run, number


def test_the_index_names_company_contact_both_vat_ids_and_the_credit_notes(env: Env, tmp_path: Path) -> None:
    # given the October run and a partial credit note against a business customer's invoice
    run, number = b2b_run(env)
    note = credit(env, number, "--amount", "11.90", "--reason", "Outage")
    # when the run is exported
    summary, rows, members = exported(env, str(run["run_id"]), "-o", str(tmp_path / "run.zip"))
    by_number = {row["number"]: row for row in rows}
    invoice, credit_note = by_number[number], by_number[note["number"]]
    # then the invoice's row names the company and its contact apart, and both VAT ids
    assert (invoice["type"], invoice["account"]) == ("invoice", "B-0001")
    assert (invoice["company"], invoice["contact"]) == ("Brandt Maschinenbau GmbH", "Jana Brandt")
    assert (invoice["seller_vat_id"], invoice["buyer_vat_id"]) == ("DE123456788", "DE812345673")
    assert Decimal(invoice["net"]) + Decimal(invoice["tax"]) == Decimal(invoice["total"]) > 0
    # and the credit note is a row of its own: negative amounts, the invoice it credits
    assert (credit_note["type"], credit_note["credits"]) == ("credit_note", number)
    assert credit_note["total"] == "-11.90" and Decimal(credit_note["net"]) + Decimal(
        credit_note["tax"]
    ) == Decimal("-11.90")
    assert credit_note["company"] == "Brandt Maschinenbau GmbH"
    # and a private customer has no company: the contact is the person billed
    private = next(row for row in rows if row["account"] == "A-0001")
    assert private["company"] == "" and private["contact"] and private["buyer_vat_id"] == ""
    # and each row's file is in the ZIP, the PDF of that document
    for row in (invoice, credit_note):
        assert row["number"] in pdf_text(members[row["file"]])
    assert sorted(members) == sorted(row["file"] for row in rows)
    # and the summary's total deducts the credit note; the invoices are counted apart from it
    assert summary["totals"]["EUR"] == str(sum(Decimal(r["total"]) for r in rows if r["currency"] == "EUR"))
    assert (summary["invoices"], summary["credit_notes"]) == (len(rows) - 1, 1)
    assert rows[-1]["type"] == "credit_note"


def test_export_of_a_period_holds_every_run_of_it(env: Env, tmp_path: Path) -> None:
    # given October's run, a supplement for a subscriber added after it, and a credit note
    run, number = b2b_run(env)
    late = tmp_path / "late.json"
    late.write_text(
        json.dumps(
            {
                "subscribers": [
                    {
                        "account": "A-9001",
                        "name": "Late Comer",
                        "email": "late@example.org",
                        "address": ["Somewhere 1", "10115 Berlin"],
                        "country": "DE",
                        "locale": "de_DE",
                        "currency": "EUR",
                        "tax_rate": "19",
                        "plan": "business-eur",
                        "active_from": "2026-10-01",
                    }
                ]
            }
        )
    )
    env.cli("import", str(late), check=True)
    supplement = run_json(env, "--period", "2026-10")
    note = credit(env, number)
    assert supplement["run_id"] != run["run_id"]
    # when the whole period is exported
    summary, rows, members = exported(env, "--period", "2026-10", "-o", str(tmp_path / "october.zip"))
    # then its invoices of both runs and its credit note are in it, each with its file
    numbers = [row["number"] for row in rows]
    assert "A-9001" in {row["account"] for row in rows} and note["number"] in numbers
    assert summary["run_id"] is None and set(summary["runs"]) >= {run["run_id"], supplement["run_id"]}
    assert len(summary["runs"]) == 3  # and the credit run
    assert len(numbers) == len(set(numbers)) == len(members)
    assert summary["invoices"] == run["invoices"] + supplement["invoices"]
    # and the fully credited invoice nets to nothing in the index
    assert Decimal(next(r["total"] for r in rows if r["number"] == number)) + Decimal(
        next(r["total"] for r in rows if r["number"] == note["number"])
    ) == Decimal(0)


def test_export_takes_a_run_or_a_period_not_both(env: Env, tmp_path: Path) -> None:
    # when / then
    both = env.invoke("export", "1", "--period", "2026-10", "-o", str(tmp_path / "x.zip"))
    neither = env.invoke("export", "-o", str(tmp_path / "x.zip"))
    for result in (both, neither):
        assert result.exit_code == 2
        assert result.stderr == "invoicing: error: give a RUN_ID or --period YYYY-MM (one of the two)\n"
    assert not (tmp_path / "x.zip").exists()
