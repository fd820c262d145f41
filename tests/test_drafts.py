"""A draft (`invoicing render` for a period not billed yet) is not an invoice: every page
says DRAFT, and nothing on it asks anyone to pay (no payment box, no bank details, no
"Please transfer" sentence). An issued invoice's render says no DRAFT."""

from __future__ import annotations

import hashlib
import io
import os
import subprocess
import sys
from dataclasses import replace

from pypdf import PdfReader

from invoicing.pdf.render import render_invoice
from tests.support.einvoices import seller_settings, with_seller
from tests.support.envs import Env
from tests.support.factories import SELLER, invoice, line, seed_fixtures
from tests.support.paths import ROOT
from tests.support.runs import run_json

ENGLISH = "A-0006"  # en_GB in the bundled fixtures
PAYMENT_WORDS = ("Please transfer", "PAYMENT", "IBAN", "BIC", "Reference")


def render(env: Env, account: str = ENGLISH) -> str:
    """`invoicing render` of the account for 2026-10; the file's text, read with pypdf."""
    out = env.path / f"{account}.pdf"
    env.cli("render", "--account", account, "--period", "2026-10", "-o", str(out), check=True)
    return "\n".join(page.extract_text() for page in PdfReader(out).pages)


def seller_iban() -> str:
    return seller_settings()["INVOICING_SELLER_IBAN"]


def test_a_draft_says_draft_across_its_page(env: Env) -> None:
    with_seller(env)
    seed_fixtures(env)
    assert "DRAFT" in render(env).splitlines()  # the watermark: the word on a line of its own


def test_a_draft_carries_no_payment_instructions(env: Env) -> None:
    with_seller(env)
    seed_fixtures(env)
    text = render(env)
    assert [word for word in (*PAYMENT_WORDS, seller_iban()) if word in text] == []


def test_a_german_draft_says_entwurf_and_asks_no_one_to_pay(env: Env) -> None:
    with_seller(env)
    seed_fixtures(env)
    text = render(env, "A-0001")  # de_DE
    assert ("ENTWURF" in text.splitlines(), "Bitte überweisen" in text, seller_iban() in text) == (
        True,
        False,
        False,
    )


def test_an_issued_invoice_renders_without_draft_and_with_its_payment_box(env: Env) -> None:
    with_seller(env)
    seed_fixtures(env)
    run_json(env, "--period", "2026-10")
    text = render(env)
    assert ("DRAFT" in text, "Please transfer" in text, seller_iban() in text) == (False, True, True)


def test_every_page_of_a_long_draft_says_draft() -> None:
    many = tuple(line(f"Call {i}", "1", "0.10", "0.10") for i in range(300))
    pdf = render_invoice(replace(invoice(lines=many, locale="en_GB"), number="DRAFT-2026-10", draft=True))
    pages = [page.extract_text().splitlines() for page in PdfReader(io.BytesIO(pdf)).pages]
    assert len(pages) > 1 and all("DRAFT" in lines for lines in pages)


# A sample seller's draft: both marks, in a fresh process with another hash seed (the
# document `here` is the same).
MARKED = (
    "replace(invoice(name='Пётр 山田'), number='DRAFT-2026-10', draft=True, "
    "seller=replace(SELLER, sample=True))"
)


def test_a_marked_page_has_the_same_bytes_in_a_fresh_process() -> None:
    code = (
        "import sys, hashlib; from dataclasses import replace; "
        "from tests.support.factories import SELLER, invoice; "
        "from invoicing.pdf.render import render_invoice; "
        f"sys.stdout.write(hashlib.sha256(render_invoice({MARKED})).hexdigest())"
    )
    env = {**os.environ, "PYTHONHASHSEED": "4242"}
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True)
    doc = replace(
        invoice(name="Пётр 山田"), number="DRAFT-2026-10", draft=True, seller=replace(SELLER, sample=True)
    )
    here = render_invoice(doc)
    assert out.stdout == hashlib.sha256(here).hexdigest(), out.stderr
