"""`invoicing export RUN_ID -o FILE.zip` from the outside, after real runs: the ZIP's index
matches its files and the database, and a missing or changed file, an unknown run or a
run with nothing rendered writes nothing."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import re
import zipfile
from decimal import Decimal
from pathlib import Path

from babel.numbers import get_currency_precision
from pypdf import PdfReader
from sqlalchemy import update

from invoicing.db import session_scope
from invoicing.models import InvoiceStatus, Subscriber
from tests.support.envs import Env
from tests.support.factories import seed_fixtures
from tests.support.runs import invoices_of, run_json

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
JSON_KEYS = {"run_id", "period", "runs", "output", "invoices", "credit_notes", "bytes", "sha256", "totals"}


def export_json(env: Env, run_id: int, output: Path) -> dict:
    proc = env.cli("export", str(run_id), "-o", str(output), "--json")
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    assert set(data) == JSON_KEYS
    return data


def refused(env: Env, run_id: int, output: Path, expect: str) -> None:
    """The export exits 2 with one line saying `expect`, and leaves no file behind (in
    this process: it needs no worker)."""
    before = sorted(output.parent.iterdir())
    result = env.invoke("export", str(run_id), "-o", str(output))
    assert result.exit_code == 2, (result.exit_code, result.stderr)
    assert result.stderr.startswith("invoicing: error: ") and expect in result.stderr, result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and "Traceback" not in result.stderr
    assert sorted(output.parent.iterdir()) == before  # no ZIP, no temp file


def printed_digits(text: str) -> str:
    """The PDF's text with digit grouping and decimal marks between digits removed."""
    return re.sub(r"(?<=\d)[.,'’\u00a0\u202f ](?=\d)", "", text)


def test_export_holds_every_rendered_invoice_once_with_a_matching_index(pg_env: Env, tmp_path: Path) -> None:
    # given a run on PostgreSQL (NUMERIC amounts) in which one invoice failed
    env = pg_env
    seed_fixtures(env)
    with session_scope() as session:
        session.execute(update(Subscriber).where(Subscriber.account == "A-0003").values(locale="xx_XX"))
        # and a name a spreadsheet would take for a formula
        session.execute(update(Subscriber).where(Subscriber.account == "A-0002").values(name="=2+3 GmbH"))
    summary = run_json(env, "--period", "2026-10", expect=3)
    rendered = [i for i in invoices_of(summary["run_id"]) if i.status == InvoiceStatus.RENDERED]
    assert len(rendered) == 18
    # when the run is exported
    target = tmp_path / "out" / "run.zip"
    target.parent.mkdir()
    data = export_json(env, summary["run_id"], target)
    # then the summary describes the file written
    assert data["output"] == str(target) and data["invoices"] == 18 and data["period"] == "2026-10"
    raw = target.read_bytes()
    assert data["bytes"] == len(raw) and data["sha256"] == hashlib.sha256(raw).hexdigest()
    with zipfile.ZipFile(target) as archive:
        assert archive.testzip() is None
        names = archive.namelist()
        index = list(csv.reader(io.StringIO(archive.read("index.csv").decode("utf-8"))))
        members = {name: archive.read(name) for name in names if name != "index.csv"}
    # and the index lists the rendered invoices once each, in number order, the failed one not
    assert index[0] == COLUMNS
    rows = [dict(zip(COLUMNS, row, strict=True)) for row in index[1:]]
    assert [r["number"] for r in rows] == [i.number for i in rendered]
    assert len(set(names)) == len(names)
    assert sorted(names) == sorted([*(r["file"] for r in rows), "index.csv"])
    assert "A-0003" not in {r["account"] for r in rows}
    totals: dict[str, Decimal] = {}
    for row, invoice in zip(rows, rendered, strict=True):
        # each file is the run's file: its checksum is the index's and the one recorded
        body = members[row["file"]]
        assert hashlib.sha256(body).hexdigest() == row["sha256"] == invoice.sha256
        assert body == Path(invoice.pdf_path).read_bytes()
        reader = PdfReader(io.BytesIO(body))
        assert len(reader.pages) == invoice.pages
        # the total is a Decimal string with the currency's digits, as the invoice prints it
        total = Decimal(row["total"])
        assert total == invoice.total and row["currency"] == invoice.currency
        assert -total.as_tuple().exponent == get_currency_precision(invoice.currency), row
        text = printed_digits("\n".join(page.extract_text() for page in reader.pages))
        assert re.search(rf"(?<!\d){row['total'].replace('.', '')}(?!\d)", text), (row, text[-300:])
        assert row["contact"] == ("'=2+3 GmbH" if row["account"] == "A-0002" else invoice.bill_name)
        assert invoice.number in text
        totals[row["currency"]] = totals.get(row["currency"], Decimal(0)) + total
    assert data["totals"] == {c: str(t) for c, t in sorted(totals.items())}
    # and the same run exported again is the same bytes
    again = export_json(env, summary["run_id"], tmp_path / "again.zip")
    assert again["sha256"] == data["sha256"]


def test_export_refuses_and_writes_nothing(env: Env, tmp_path: Path) -> None:
    # given a completed run, and a period with nobody billable (a run with no invoices)
    seed_fixtures(env)
    summary = run_json(env, "--period", "2026-10")
    empty = run_json(env, "--period", "2020-01", "--force-period")
    folder = tmp_path / "exports"
    folder.mkdir()
    target = folder / "run.zip"
    # then an unknown run, and a run with nothing rendered, are refused
    refused(env, 42, target, "no billing run 42")
    refused(env, empty["run_id"], target, f"billing run {empty['run_id']} has no rendered invoices")
    # when one invoice file was changed after it was rendered (its last one, the ZIP half built)
    victim = Path(invoices_of(summary["run_id"])[-1].pdf_path)
    original = victim.read_bytes()
    victim.write_bytes(original + b"\n")
    # then it is named and nothing is written
    refused(env, summary["run_id"], target, f"{victim}: its sha256 is not the one recorded")
    # when it is missing
    victim.unlink()
    refused(env, summary["run_id"], target, f"{victim}: missing")
    # when it is back, the export succeeds, and a second one without --force is refused
    victim.write_bytes(original)
    assert export_json(env, summary["run_id"], target)["invoices"] == 19
    written = target.read_bytes()
    refused(env, summary["run_id"], target, "already exists; use --force")
    assert target.read_bytes() == written
    proc = env.cli("export", str(summary["run_id"]), "-o", str(target), "--force")
    assert proc.returncode == 0 and f"wrote {target}: 19 invoices of run {summary['run_id']}" in proc.stderr
