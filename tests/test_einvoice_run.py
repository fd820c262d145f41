"""E-invoices from the outside: business customers imported with the `invoicing` command
get hybrid PDF/A-3 invoices in the nightly run, which the official rules accept (XML read
back with pypdf, EN 16931 XSD and Schematron, PDF/A markers with pikepdf), with the very
figures the invoice rows hold; a subscriber the rules reject fails alone; the merged
file stays a print copy; `invoicing validate` judges a file; bad rows never get in."""

from __future__ import annotations

import copy
import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from invoicing.db import session_scope
from invoicing.models import Charge, Invoice, InvoiceStatus, Plan, Subscriber
from invoicing.pdf.einvoice.validate import validate_pdf, validate_xml
from tests.support.checks import assert_run_consistent
from tests.support.einvoices import (
    B2B,
    B2B_ACCOUNTS,
    assert_figures_are_the_rows,
    assert_pdfa3_markers,
    assert_print_copy,
    embedded_xml,
    seed_b2b,
    with_seller,
    xml_figures,
    xpath,
)
from tests.support.envs import Env
from tests.support.factories import initialized
from tests.support.runs import count_rows, run_json, status_of
from tests.support.workers import Workers

# The bundled 19 billable in 2026-10, then the four B2B ones, numbered in account order.
BILLABLE = 23
PROFILE = {"B-0001": "factur-x", "B-0002": "factur-x", "B-0003": "factur-x", "B-0004": "xrechnung"}


def invoices_by_account(run_id: int) -> dict[str, Invoice]:
    with session_scope() as session:
        rows = session.scalars(select(Invoice).where(Invoice.run_id == run_id).order_by(Invoice.seq)).all()
        for row in rows:
            _ = row.lines, row.subscriber.account  # loaded before the session closes
        return {row.subscriber.account: row for row in rows}


def b2b_data() -> dict[str, Any]:
    return json.loads(B2B.read_text(encoding="utf-8"))


def kosovo_customer(env: Env) -> Path:
    """An import file with one more customer, in Kosovo, with a (German) VAT id and no
    e-invoice format of its own: babel knows its country as XK, EN 16931's code lists
    do not (they say 1A), and only the Schematron knows that."""
    customer = {
        **b2b_data()["subscribers"][1],
        "account": "B-0005",
        "name": "Arta Krasniqi",
        "company": "Dardania Tech SH.P.K.",
        "address": ["Rruga Agim Ramadani 15", "10000 Prishtinë"],
        "country": "XK",
        "locale": "sq_XK",
        "vat_id": "DE314159262",
        "einvoice": None,
        "tax_category": None,
    }
    path = env.path / "kosovo.json"
    path.write_text(json.dumps({"subscribers": [customer]}, ensure_ascii=False), encoding="utf-8")
    return path


# --- the run -----------------------------------------------------------------------------


def test_business_customers_get_hybrid_invoices_the_official_rules_accept(env: Env) -> None:
    # given the bundled fixtures, the four business customers and the seller's settings
    with_seller(env)
    seed_b2b(env)
    # when
    summary = run_json(env, "--period", "2026-10")
    # then every invoice is rendered and merged as ever
    assert summary["status"] == "completed"
    assert_run_consistent(summary, BILLABLE)
    invoices = invoices_by_account(summary["run_id"])
    for account, invoice in invoices.items():
        pdf = Path(invoice.pdf_path)
        if account not in B2B_ACCOUNTS:
            assert validate_pdf(pdf.read_bytes()).rules == ["invoicing:hybrid-xml"]  # a plain PDF
            continue
        # and each business customer's file carries its XML, which the official rules accept
        profile = PROFILE[account]
        name, xml = embedded_xml(pdf)
        assert name == ("xrechnung.xml" if profile == "xrechnung" else "factur-x.xml")
        assert validate_xml(xml).violations == ()
        result = validate_pdf(pdf.read_bytes())
        assert result.ok and result.profile == profile, "\n".join(map(str, result.violations))
        # with the invoice row's figures, and the PDF/A-3 markers
        assert_figures_are_the_rows(xml, invoice)
        assert_pdfa3_markers(pdf, name, "XRECHNUNG" if profile == "xrechnung" else "EN 16931")
        assert xpath(xml, "//ram:BuyerTradeParty/ram:SpecifiedTaxRegistration/ram:ID/text()") == [
            invoice.bill_vat_id
        ]
        assert xpath(xml, "//ram:SellerTradeParty/ram:SpecifiedTaxRegistration/ram:ID/text()") == [
            "DE123456788",  # BT-31, the VAT id
            "27/123/45678",  # BT-32, the tax number
        ]
    # the reverse-charge customer: AE at 0 %, its own exemption reason, both VAT ids
    austrian = embedded_xml(Path(invoices["B-0003"].pdf_path))[1]
    assert xpath(
        austrian, "//ram:ApplicableHeaderTradeSettlement/ram:ApplicableTradeTax/ram:CategoryCode/text()"
    ) == ["AE"]
    assert xpath(austrian, "//ram:ExemptionReason/text()") == [
        "Reverse Charge: Steuerschuldnerschaft des Leistungsempfängers (Art. 196 MwStSystRL)"
    ]
    assert xml_figures(austrian)["tax"] == Decimal("0.00")
    # the public buyer: an XRechnung to its Leitweg-ID
    public = embedded_xml(Path(invoices["B-0004"].pdf_path))[1]
    assert xpath(public, "//ram:BuyerReference/text()") == ["02011000-12345-33"]
    assert xpath(public, "//ram:BuyerTradeParty/ram:URIUniversalCommunication/ram:URIID/@schemeID") == [
        "0204"
    ]
    # and the merged file is a print copy: the legal originals are the single files
    assert_print_copy(Path(summary["output"]))


def test_e_invoice_inputs_are_frozen_at_issue(env: Env) -> None:
    # given the business customers: before the run, a preview is a DRAFT, no e-invoice
    with_seller(env)
    seed_b2b(env)
    draft = env.path / "draft.pdf"
    env.cli("render", "--account", "B-0001", "--period", "2026-10", "-o", str(draft), check=True)
    assert "not an e-invoice" in env.cli("validate", str(draft)).stderr
    # and an issued run
    summary = run_json(env, "--period", "2026-10")
    before = {
        a: (i.sha256, i.bill_vat_id, i.bill_einvoice)
        for a, i in invoices_by_account(summary["run_id"]).items()
    }
    # when the customers change their VAT id, format and reference
    data = b2b_data()
    data["subscribers"][0].update(
        vat_id="DE314159262", einvoice="xrechnung", buyer_reference="04011000-1234512345-06"
    )
    changed = env.path / "changed.json"
    changed.write_text(json.dumps(data), encoding="utf-8")
    env.cli("import", str(changed), check=True)
    # then the issued invoice keeps what it was issued with
    after = invoices_by_account(summary["run_id"])
    assert {a: (i.sha256, i.bill_vat_id, i.bill_einvoice) for a, i in after.items()} == before
    # and, its file gone, renders again from what was frozen to the very bytes issued
    stored = Path(after["B-0001"].pdf_path)
    issued = stored.read_bytes()
    stored.unlink()
    again = env.cli("render", "--account", "B-0001", "--period", "2026-10", "-o", str(env.path / "again.pdf"))
    assert again.returncode == 0, again.stderr
    assert (env.path / "again.pdf").read_bytes() == issued
    assert embedded_xml(issued)[0] == "factur-x.xml"


def test_credit_notes_of_e_invoices_are_type_381_with_positive_amounts(env: Env) -> None:
    # given the business customers' October invoices
    with_seller(env)
    seed_b2b(env)
    summary = run_json(env, "--period", "2026-10")
    invoices = invoices_by_account(summary["run_id"])
    german, austrian = invoices["B-0001"], invoices["B-0003"]
    # when one is credited in full and one in part
    full = json.loads(env.cli("credit", german.number, "--json", check=True).stdout)
    part = json.loads(
        env.cli(
            "credit", austrian.number, "--amount", "100", "--reason", "Outage", "--json", check=True
        ).stdout
    )
    # then each credit note is an e-invoice of type 381, naming the invoice (BT-25), with
    # the printed (negative) figures encoded positive
    with session_scope() as session:
        notes = {
            n.number: n
            for n in session.scalars(
                select(Invoice).where(Invoice.number.in_([full["number"], part["number"]]))
            )
        }
        for note in notes.values():
            _ = note.lines
    for credit, invoice in ((full, german), (part, austrian)):
        note = notes[credit["number"]]
        assert note.total < 0 and note.bill_einvoice == "factur-x"
        pdf = Path(credit["output"])
        result = validate_pdf(pdf.read_bytes())
        assert result.ok, "\n".join(map(str, result.violations))
        xml = embedded_xml(pdf)[1]
        assert xml_figures(xml)["type"] == "381"
        assert xpath(xml, "//ram:InvoiceReferencedDocument/ram:IssuerAssignedID/text()") == [invoice.number]
        assert_figures_are_the_rows(xml, note, sign=-1)
    assert xml_figures(embedded_xml(Path(part["output"]))[1])["grand_total"] == Decimal("100.00")


def test_a_subscriber_the_rules_reject_fails_alone_naming_the_rules_and_retry_completes(env: Env) -> None:
    # given a customer in Kosovo with a VAT id, imported while nobody got e-invoices by
    # default, so the import did not check it as an e-invoicing one
    with_seller(env)
    extra = kosovo_customer(env)
    seed_b2b(env, extra)
    # when the run makes e-invoices for every VAT id, and validates each one
    summary = run_json(
        env,
        "--period",
        "2026-10",
        expect=3,
        INVOICING_EINVOICE="factur-x",
        INVOICING_EINVOICE_VALIDATE="true",
    )
    # then that invoice alone failed, naming the rules; the others are rendered and merged
    assert summary["status"] == "completed_with_errors" and summary["failed"] == 1
    assert_run_consistent(summary, BILLABLE + 1, failed=1)
    (failure,) = status_of(env, summary["run_id"])["failures"]
    assert failure["account"] == "B-0005"
    assert failure["error"] == (  # the buyer's country, and the deliver-to country
        "EN 16931 (factur-x): FX-SCH-A-000568: Value of 'ram:CountryID' is not allowed; "
        "FX-SCH-A-000586: Value of 'ram:CountryID' is not allowed"
    )
    assert_print_copy(Path(summary["output"]))
    # when the customer is corrected (no VAT id: a plain invoice) and the run retried
    corrected = json.loads(extra.read_text(encoding="utf-8"))
    corrected["subscribers"][0]["vat_id"] = None
    extra.write_text(json.dumps(corrected), encoding="utf-8")
    env.cli("import", str(extra), check=True)
    retried = env.cli("retry", str(summary["run_id"]), "--json", INVOICING_EINVOICE="factur-x")
    # then the run completes
    assert retried.returncode == 0, retried.stderr
    assert json.loads(retried.stdout)["status"] == "completed"


def test_worker_processes_make_and_validate_hybrids(workers: Workers) -> None:
    """On Redis, prefork pool processes: each loads Saxon for itself, after the fork."""
    # given the customers, and workers that validate every e-invoice they render
    env = with_seller(workers.env)
    seed_b2b(env, kosovo_customer(env))
    workers.start(count=1, concurrency=2, INVOICING_EINVOICE_VALIDATE="1")
    # when the run is issued giving every VAT id an e-invoice (decided at issue)
    summary = run_json(
        env, "--period", "2026-10", expect=3, INVOICING_BATCH_SIZE="3", INVOICING_EINVOICE="factur-x"
    )
    # then the one the rules reject failed with its rules, every other e-invoice is valid
    assert_run_consistent(summary, BILLABLE + 1, failed=1)
    (failure,) = status_of(env, summary["run_id"])["failures"]
    assert failure["account"] == "B-0005" and "FX-SCH-A-000568" in failure["error"]
    invoices = invoices_by_account(summary["run_id"])
    for account in B2B_ACCOUNTS:
        assert validate_pdf(Path(invoices[account].pdf_path).read_bytes()).ok, account
    assert_print_copy(Path(summary["output"]))


# --- invoicing validate ----------------------------------------------------------------------


def test_validate_says_what_the_rules_say(env: Env, tmp_path: Path) -> None:
    # given a good e-invoice, one the rules reject (made without the run's validation),
    # a plain invoice and a file that is no PDF
    with_seller(env)
    seed_b2b(env, kosovo_customer(env))
    summary = run_json(env, "--period", "2026-10", INVOICING_EINVOICE="factur-x")
    invoices = invoices_by_account(summary["run_id"])
    good, broken, plain = (Path(invoices[a].pdf_path) for a in ("B-0004", "B-0005", "A-0001"))
    (tmp_path / "notes.txt").write_text("not a pdf", encoding="utf-8")
    # when / then: valid, exit 0
    proc = env.cli("validate", str(good))
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0] == "valid (xrechnung)"
    assert "checked: EN 16931 Schematron (Factur-X 1.09.2, profile EN 16931)" in lines
    assert any(line.startswith("not checked: KoSIT XRechnung rules") for line in lines)
    # violations: each rule with its message, exit 1
    proc = env.cli("validate", str(broken))
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    printed = proc.stdout.splitlines()
    assert [line.split(":")[0] for line in printed[:2]] == ["FX-SCH-A-000568", "FX-SCH-A-000586"]
    assert printed[0].startswith("FX-SCH-A-000568: Value of 'ram:CountryID' is not allowed. [")
    assert printed[2] == "2 violations (factur-x)"
    report = json.loads(env.cli("validate", str(broken), "--json").stdout)
    assert report["valid"] is False and report["rules"] == ["FX-SCH-A-000568", "FX-SCH-A-000586"]
    assert report["embedded_file"] == "factur-x.xml" and report["profile"] == "factur-x"
    assert {"rule", "message", "location"} == set(report["violations"][0])
    # no e-invoice at all: one line, exit 2
    for path, reason in (
        (plain, "not an e-invoice: the PDF carries no factur-x.xml or xrechnung.xml"),
        (Path(summary["output"]), "not an e-invoice: the PDF carries no factur-x.xml or xrechnung.xml"),
        (tmp_path / "notes.txt", "not a PDF (nor a CII XML e-invoice)"),
        (tmp_path / "missing.pdf", "no such file"),
    ):
        proc = env.cli("validate", str(path))
        assert proc.returncode == 2 and proc.stdout == "", proc.stderr
        assert proc.stderr.strip().splitlines() == [f"invoicing: error: {path}: {reason}"]
    # and the XML file on its own is judged too
    (tmp_path / "factur-x.xml").write_bytes(embedded_xml(good)[1])
    assert env.cli("validate", str(tmp_path / "factur-x.xml")).returncode == 0


# --- bad input never gets in -----------------------------------------------------------------

GERMAN, FRENCH, AUSTRIAN, PUBLIC = range(4)


@pytest.mark.parametrize(
    ("row", "changes", "expected"),
    [
        (
            GERMAN,
            {"vat_id": None},
            "subscribers[0] (account 'B-0001'): einvoice: factur-x needs the buyer's vat_id",
        ),
        (GERMAN, {"vat_id": "DE12345"}, "vat_id: 'DE12345' is not a valid DE VAT number (invalid length)"),
        (
            GERMAN,
            {"vat_id": "DE812345674"},
            "vat_id: 'DE812345674' has wrong check digits for a DE VAT number",
        ),
        (FRENCH, {"vat_id": "FR40303265046"}, "has wrong check digits for a FR VAT number"),
        (GERMAN, {"vat_id": "123456788"}, "vat_id: '123456788' is not a VAT identifier"),
        (GERMAN, {"vat_id": "QQ123456"}, "vat_id: 'QQ123456' does not start with an ISO 3166 country code"),
        (PUBLIC, {"buyer_reference": "991-12345"}, "buyer_reference: '991-12345' is not a Leitweg-ID"),
        (PUBLIC, {"buyer_reference": "02011000-12345-34"}, "is a Leitweg-ID with wrong check digits"),
        (PUBLIC, {"buyer_reference": None}, "buyer_reference: an XRechnung needs one (BT-10, BR-DE-15"),
        (GERMAN, {"tax_rate": "0"}, "tax_category: required for an e-invoice when tax_rate is 0"),
        (AUSTRIAN, {"tax_rate": "20"}, "tax_category: AE charges no VAT, so tax_rate must be 0 (got 20)"),
        (AUSTRIAN, {"vat_id": None}, "einvoice: factur-x needs the buyer's vat_id"),
        (FRENCH, {"tax_rate": "0"}, "tax_category: S (standard rated) needs a tax_rate above 0"),
        (
            GERMAN,
            {"tax_category": "E", "tax_rate": "0"},
            "exemption_reason: BR-E-10: category E needs an exemption reason",
        ),
        (
            FRENCH,
            {"exemption_reason": "exempt"},
            "exemption_reason: only for a tax_category that charges no VAT",
        ),
        (
            GERMAN,
            {"tax_category": "G", "tax_rate": "0", "exemption_reason": "Export"},
            "tax_category: BR-CL-17",
        ),
        (
            GERMAN,
            {"country": "XK", "locale": "sq_XK"},
            "country: XK is not in the EN 16931 country code list",
        ),
        (GERMAN, {"einvoice": "zugferd"}, "einvoice: must be one of factur-x, xrechnung or null"),
        (
            PUBLIC,
            {"address": ["Caffamacherreihe 1-3", "Hamburg"]},
            "address: BR-DE-8: no 'postcode city' line",
        ),
    ],
)
def test_a_bad_business_row_is_refused_with_its_reason_and_nothing_is_written(
    env: Env, row: int, changes: dict[str, Any], expected: str
) -> None:
    # given the business customers' file with one row made wrong
    with_seller(env)
    data = b2b_data()
    data["subscribers"][row].update(changes)
    invoke(env, "db", "init")
    # when
    result = invoke(env, "import", *_write(env, data))
    # then exit 2, the row and its reason, nothing written, no traceback
    assert result.exit_code == 2, result.output
    assert expected in result.stderr, result.stderr
    assert "Traceback" not in result.stderr
    assert result.stderr.strip().splitlines()[-1].endswith("; nothing was imported")
    assert (count_rows(Plan), count_rows(Subscriber), count_rows(Charge)) == (0, 0, 0)


@pytest.mark.parametrize(
    ("settings", "row", "expected"),
    [
        (
            {"INVOICING_SELLER_VAT_ID": ""},
            AUSTRIAN,
            "settings: INVOICING_SELLER_VAT_ID: BR-AE-02: category AE needs the seller VAT id (BT-31); "
            "the e-invoices of subscribers[2] (account 'B-0003') need it",
        ),
        (
            {"INVOICING_SELLER_PHONE": ""},
            PUBLIC,
            "settings: INVOICING_SELLER_PHONE: BR-DE-6: seller telephone (BT-42) is empty; "
            "the e-invoices of subscribers[3] (account 'B-0004') need it",
        ),
        (
            {"INVOICING_SELLER_COUNTRY": ""},
            GERMAN,
            "settings: INVOICING_SELLER_COUNTRY: BR-09: seller country (BT-40) is not set "
            "(INVOICING_SELLER_COUNTRY); the e-invoices of subscribers[0] (account 'B-0001') "
            "and 3 more need it",
        ),
    ],
)
def test_a_seller_setting_e_invoices_need_is_named_once(
    env: Env, settings: dict[str, str], row: int, expected: str
) -> None:
    # given the seller settings without one that the customers' e-invoices need
    with_seller(env)
    env.vars.update(settings)
    invoke(env, "db", "init")
    # when
    result = invoke(env, "import", str(B2B))
    # then the setting is named once, with the rows that need it
    assert result.exit_code == 2
    assert [line.strip() for line in result.stderr.splitlines() if "settings:" in line] == [expected]
    assert count_rows(Subscriber) == 0


def test_the_default_format_makes_every_vat_id_an_e_invoice_and_says_so(env: Env) -> None:
    # given INVOICING_EINVOICE, and a customer with a VAT id at 0 % that names no format
    with_seller(env)
    data = b2b_data()
    data["subscribers"][GERMAN].update(einvoice=None, tax_rate="0")
    invoke(env, "db", "init")
    # when
    result = invoke(env, "import", *_write(env, data), INVOICING_EINVOICE="factur-x")
    # then it is checked as an e-invoicing customer, and the message says why
    assert result.exit_code == 2
    assert "(it has a vat_id and INVOICING_EINVOICE=factur-x)" in result.stderr
    # and without the setting it is a plain-PDF customer, imported
    assert invoke(env, "import", *_write(env, data)).exit_code == 0


def test_a_three_decimal_currency_cannot_be_e_invoiced(env: Env) -> None:
    # given a business customer billed in Kuwaiti dinars
    with_seller(env)
    data = b2b_data()
    data["plans"].append(
        {"code": "business-kwd", "name": "Business", "monthly_fee": "15.500", "currency": "KWD"}
    )
    data["subscribers"][GERMAN].update(plan="business-kwd", currency="KWD")
    invoke(env, "db", "init")
    # when
    result = invoke(env, "import", *_write(env, data))
    # then
    assert result.exit_code == 2
    assert "currency: KWD has 3 decimals; EN 16931 amounts have at most 2 (BR-DEC-*)" in result.stderr


def test_csv_rows_are_checked_the_same(env: Env) -> None:
    # given the business customers as CSV files, one row with a VAT id whose digits are wrong
    with_seller(env)
    data = b2b_data()
    header = [
        "account", "name", "email", "address", "country", "locale", "currency", "tax_rate", "plan",
        "active_from", "company", "vat_id", "buyer_reference", "einvoice", "tax_category", "exemption_reason",
    ]  # fmt: skip

    def csv_of(rows: list[dict[str, Any]]) -> str:
        lines = [",".join(header)]
        for sub in rows:
            cells = ["|".join(sub[h]) if h == "address" else str(sub.get(h) or "") for h in header]
            lines.append(",".join(f'"{c}"' for c in cells))
        return "\n".join(lines) + "\n"

    (env.path / "plans.csv").write_text(
        "code,name,monthly_fee,currency\n"
        + "".join(f"{p['code']},{p['name']},{p['monthly_fee']},EUR\n" for p in data["plans"]),
        encoding="utf-8",
    )
    bad = copy.deepcopy(data["subscribers"])
    bad[AUSTRIAN]["vat_id"] = "ATU12345676"
    (env.path / "subscribers.csv").write_text(csv_of(bad), encoding="utf-8")
    initialized(env)
    # when
    proc = env.cli("import", str(env.path / "plans.csv"), str(env.path / "subscribers.csv"))
    # then
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert (
        "subscribers.csv line 4 (account 'B-0003'): vat_id: 'ATU12345676' has wrong check digits"
        in proc.stderr
    )
    assert count_rows(Subscriber) == 0
    # when the row is right, the CSV imports and the customers get their e-invoices
    (env.path / "subscribers.csv").write_text(csv_of(data["subscribers"]), encoding="utf-8")
    env.cli("import", str(env.path / "plans.csv"), str(env.path / "subscribers.csv"), check=True)
    summary = run_json(env, "--period", "2026-10")
    invoices = invoices_by_account(summary["run_id"])
    assert {a: i.bill_einvoice for a, i in invoices.items()} == PROFILE
    assert all(validate_pdf(Path(i.pdf_path).read_bytes()).ok for i in invoices.values())
    assert all(i.status == InvoiceStatus.RENDERED for i in invoices.values())


def test_a_seller_vat_id_with_wrong_check_digits_stops_every_command(env: Env) -> None:
    # when
    proc = env.cli("status", INVOICING_SELLER_VAT_ID="DE123456789")
    # then one line, exit 2
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [
        "invoicing: error: INVOICING_SELLER_VAT_ID: 'DE123456789' has wrong check digits for a DE VAT number"
    ]


def invoke(env: Env, *args: str, **extra: str) -> Any:
    """`invoicing ARGS` in this process, with the environment's variables (and `extra`)."""
    return env.invoke(*args, **{**env.vars, **extra})


def _write(env: Env, data: dict[str, Any], name: str = "b2b.json") -> list[str]:
    path = env.path / name
    path.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
    return [str(path)]
