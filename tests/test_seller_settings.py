"""The seller an invoice prints: the sample only when no INVOICING_SELLER_* is given, and
then marked SAMPLE on every page; otherwise every field from the settings, the required
ones refused when missing, the IBAN and BIC checked; `invoicing config` shows which."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from pypdf import PdfReader
from sqlalchemy import select

from invoicing.config import SAMPLE_SELLER, Settings
from invoicing.db import session_scope
from invoicing.models import Invoice, Subscriber
from tests.support.einvoices import seller_settings
from tests.support.envs import Env
from tests.support.factories import seed_fixtures
from tests.support.runs import count_rows, invoices_of, run_json
from tests.support.tools import require_tool

# A seller of one's own, as the issue reported it: name, address, IBAN and VAT id, nothing
# else (no tax number, e-mail, bank or BIC).
OWN_SELLER = {
    "INVOICING_SELLER_NAME": "Acme Networks Ltd",
    "INVOICING_SELLER_ADDRESS": "1 Harbour Road|Dublin 2|Ireland",
    "INVOICING_SELLER_IBAN": "IE29AIBK93115212345678",
    "INVOICING_SELLER_VAT_ID": "IE6388047V",
}
# What only the sample seller prints.
SAMPLE_TEXTS = (
    "Northwind",
    "Friedrichstraße",
    "DE 123 456 789",
    "northwind.example",
    "Musterbank",
    "COBADEFFXXX",
)


def pages_text(path: Path) -> list[str]:
    return [page.extract_text() for page in PdfReader(path).pages]


def first_invoice_of_a_run(env: Env) -> Path:
    summary = run_json(env, "--period", "2026-10")
    return Path(min(invoices_of(summary["run_id"]), key=lambda i: i.number).pdf_path)


# --- the sample seller ---------------------------------------------------------------------


def test_without_seller_settings_every_page_of_an_invoice_says_sample(env: Env) -> None:
    seed_fixtures(env)
    texts = pages_text(first_invoice_of_a_run(env))
    assert all("SAMPLE\n" in text and "SAMPLE seller: not a valid invoice" in text for text in texts), texts


def test_the_sample_mark_is_in_the_page_content_poppler_reads(env: Env) -> None:
    pdftotext = require_tool("pdftotext", "poppler-utils", "reading a page as poppler does")
    seed_fixtures(env)
    path = first_invoice_of_a_run(env)
    text = subprocess.run([pdftotext, str(path), "-"], capture_output=True, text=True, check=True).stdout
    assert "SAMPLE seller: not a valid invoice (set INVOICING_SELLER_*)" in text


def test_with_seller_settings_nothing_of_the_sample_is_printed(env: Env) -> None:
    seed_fixtures(env)
    env.vars.update(OWN_SELLER)
    text = "\n".join(pages_text(first_invoice_of_a_run(env)))
    assert "Acme Networks Ltd" in text and "IE6388047V" in text
    assert [t for t in (*SAMPLE_TEXTS, "SAMPLE") if t in text] == []


def test_the_iban_of_the_settings_is_printed_in_groups_of_four(env: Env) -> None:
    seed_fixtures(env)
    env.vars.update(OWN_SELLER, INVOICING_SELLER_IBAN="ie29 aibk 9311-5212-3456-78")
    text = "\n".join(pages_text(first_invoice_of_a_run(env)))
    assert "IE29 AIBK 9311 5212 3456 78" in text


# --- incomplete or bad seller settings -------------------------------------------------------

MISSING_LINE = (
    "invoicing: error: the seller settings lack INVOICING_SELLER_ADDRESS, INVOICING_SELLER_IBAN, "
    "INVOICING_SELLER_TAX_ID (or INVOICING_SELLER_VAT_ID): once any INVOICING_SELLER_* setting is "
    "given, every field an invoice prints comes from them (`invoicing config` shows them)\n"
)


@pytest.mark.parametrize(
    "command",
    [
        ("run", "--period", "2026-10"),
        ("render", "--account", "A-0006", "--period", "2026-10", "-o", "draft.pdf"),
        ("retry", "1"),
        ("credit", "INV-2026-10-000001"),
    ],
    ids=lambda c: c[0],
)
def test_a_seller_setting_alone_is_refused_naming_what_is_missing(env: Env, command: tuple[str, ...]) -> None:
    seed_fixtures(env)
    proc = env.cli(*command, INVOICING_SELLER_NAME="Acme Networks Ltd")
    assert (proc.returncode, proc.stderr, count_rows(Invoice)) == (2, MISSING_LINE, 0)


def test_an_explicitly_empty_required_setting_is_refused_too(env: Env) -> None:
    seed_fixtures(env)
    proc = env.cli("run", "--period", "2026-10", **{**OWN_SELLER, "INVOICING_SELLER_IBAN": ""})
    assert (proc.returncode, proc.stderr.splitlines()[-1:]) == (
        2,
        [
            "invoicing: error: the seller settings lack INVOICING_SELLER_IBAN: once any INVOICING_SELLER_* "
            "setting is given, every field an invoice prints comes from them (`invoicing config` shows them)"
        ],
    )


@pytest.mark.parametrize(
    ("setting", "value", "line"),
    [
        (
            "INVOICING_SELLER_IBAN",
            "IE29AIBK93115212345679",
            "invoicing: error: INVOICING_SELLER_IBAN: is not a valid IBAN: the number's checksum or "
            "check digit is invalid (got 'IE29AIBK93115212345679')\n",
        ),
        (
            "INVOICING_SELLER_BIC",
            "AIBK1EDD",
            "invoicing: error: INVOICING_SELLER_BIC: is not a valid BIC: the number has an invalid "
            "format (got 'AIBK1EDD')\n",
        ),
    ],
    ids=["iban", "bic"],
)
def test_a_bad_iban_or_bic_stops_every_command(env: Env, setting: str, value: str, line: str) -> None:
    proc = env.cli("db", "init", **{**OWN_SELLER, setting: value})
    assert (proc.returncode, proc.stderr) == (2, line)


# --- invoicing config ----------------------------------------------------------------------


def config_json(env: Env, expect: int = 0, **extra: str) -> dict[str, object]:
    proc = env.cli("config", "--json", **extra)
    assert proc.returncode == expect, proc.stderr
    data: dict[str, object] = json.loads(proc.stdout)
    return data


def test_config_shows_every_setting(env: Env) -> None:
    shown = config_json(env)["settings"]
    assert isinstance(shown, dict)
    assert sorted(shown) == sorted(f"INVOICING_{name.upper()}" for name in Settings.model_fields)


def test_config_names_the_sample_seller_s_settings(env: Env) -> None:
    data = config_json(env)
    assert (data["seller"], data["sample"]) == (
        "sample",
        sorted(f"INVOICING_{name.upper()}" for name in SAMPLE_SELLER),
    )


def test_config_names_none_as_the_sample_s_once_a_seller_is_given(env: Env) -> None:
    data = config_json(env, **OWN_SELLER)
    assert (data["seller"], data["sample"], data["missing"]) == ("settings", [], [])


def test_config_masks_the_passwords_of_urls(env: Env) -> None:
    proc = env.cli(
        "config",
        INVOICING_BROKER_URL="redis://:s3cr3t-pw@127.0.0.1:6379/0",
        INVOICING_DATABASE_URL="postgresql+psycopg://billing:an0ther-pw@db/invoicing",
    )
    assert ("s3cr3t-pw" in proc.stdout, "an0ther-pw" in proc.stdout, proc.stdout.count(":***@")) == (
        False,
        False,
        2,
    )


def test_config_shows_incomplete_seller_settings_then_refuses_them(env: Env) -> None:
    proc = env.cli("config", "--json", INVOICING_SELLER_NAME="Acme Networks Ltd")
    assert (proc.returncode, json.loads(proc.stdout)["missing"], proc.stderr) == (
        2,
        [
            "INVOICING_SELLER_ADDRESS",
            "INVOICING_SELLER_IBAN",
            "INVOICING_SELLER_TAX_ID (or INVOICING_SELLER_VAT_ID)",
        ],
        MISSING_LINE,
    )


def test_config_says_in_words_which_values_are_the_sample_s(env: Env) -> None:
    proc = env.cli("config")
    marked = sorted(line.split()[0] for line in proc.stdout.splitlines() if line.endswith("  (sample)"))
    assert marked == sorted(f"INVOICING_{name.upper()}" for name in SAMPLE_SELLER)


# --- the seller's tax number and VAT id ----------------------------------------------------


@pytest.mark.parametrize(
    "account, tax_number, vat_id",
    [
        ("A-0001", "Steuernummer 27/123/45678", "USt-IdNr. DE123456788"),  # de_DE
        ("A-0004", "N° fiscal 27/123/45678", "N° TVA DE123456788"),  # fr_FR
        ("A-0006", "Tax ref. 27/123/45678", "VAT No. DE123456788"),  # en_GB
        ("A-0011", "ΑΦΜ 27/123/45678", "Αρ. ΦΠΑ DE123456788"),  # el_GR
    ],
)
def test_a_seller_s_tax_number_and_vat_id_are_printed_each_under_its_own_label(
    env: Env, account: str, tax_number: str, vat_id: str
) -> None:
    # given the seller of fixtures/b2b.env: a tax number and a VAT id
    seed_fixtures(env)
    env.vars.update(seller_settings())
    # when October is billed
    run_json(env, "--period", "2026-10")
    # then the subscriber's invoice names each under its own label, in the invoice's language
    with session_scope() as session:
        pdf_path = session.scalars(
            select(Invoice.pdf_path).join(Subscriber).where(Subscriber.account == account)
        ).one()
    text = " ".join(pages_text(Path(pdf_path))[0].split())
    assert tax_number in text and vat_id in text, text
