"""Any input, from the import to the rendered file: each subscriber of an import file of
arbitrary Unicode text and amounts is either refused at import, with its row and the
reason, or billed, with every field of its invoice inside its box and the file readable;
the run always completes.

The commands are the real ones (`import`, `run` in this process through click); the files
are the ones the run wrote, read back with pypdf and poppler's `pdftotext`.
"""

from __future__ import annotations

import json
import re
import subprocess
import tempfile
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from pypdf import PdfReader

from invoicing.billing.documents import document_for, seller_from
from invoicing.config import get_settings
from invoicing.db import session_scope
from invoicing.models import Charge, Invoice, InvoiceStatus, Subscriber
from tests.support.boxes import assert_laid_out_inside_boxes
from tests.support.envs import Env, forget_engines, reset_settings
from tests.support.factories import VALID_IMPORT
from tests.support.runs import count_rows
from tests.support.tools import require_tool

LOCALES = [("de_DE", "EUR"), ("ar_SA", "SAR"), ("th_TH", "THB"), ("ja_JP", "JPY"), ("hi_IN", "INR")]
# Letters with piles of marks on them, besides any text at all.
_MARKED = st.builds(
    lambda base, marks: base + marks,
    st.characters(categories=("L",)),
    st.text(st.characters(categories=("Mn", "Mc", "Me")), min_size=1, max_size=40),
)
TEXT = st.one_of(
    st.text(min_size=1, max_size=60), _MARKED, st.lists(_MARKED, min_size=1, max_size=4).map(" ".join)
)


def _decimal_text(unscaled: int, places: int) -> str:
    return format(Decimal(unscaled).scaleb(-places), "f")


# Every order of magnitude up to well past what a column holds.
AMOUNT = st.builds(
    _decimal_text, st.integers(0, 13).flatmap(lambda k: st.integers(-(10**k), 10**k)), st.integers(0, 4)
)
SUBSCRIBER = st.fixed_dictionaries(
    {
        "name": TEXT,
        "company": st.one_of(st.none(), TEXT),
        "address": st.lists(TEXT, min_size=1, max_size=4),
        "locale": st.sampled_from(LOCALES),
        "charges": st.lists(st.tuples(TEXT, AMOUNT, AMOUNT), max_size=3),
    }
)
# A problem names its row, or the rows of one invoice it is about (its total, its count
# of lines): "charges[0] (account 'A-0001'), charges[1] (account 'A-0001'): ...".
_NAMED = r"(?:subscribers|charges)\[\d+\] \(account 'A-\d{4}'\)"
ROW = re.compile(rf"^\s*({_NAMED}(?:, {_NAMED})*(?: and \d+ more)?): \S")
ACCOUNT = re.compile(r"\(account '(A-\d{4})'\)")


def import_file(subscribers: list[dict[str, Any]]) -> dict[str, Any]:
    plan = VALID_IMPORT["plans"][0]
    data: dict[str, Any] = {"plans": [], "subscribers": [], "charges": []}
    for currency in sorted({s["locale"][1] for s in subscribers}):
        data["plans"].append({**plan, "code": f"basic-{currency.lower()}", "currency": currency})
    for n, sub in enumerate(subscribers, start=1):
        locale, currency = sub["locale"]
        account = f"A-{n:04d}"
        data["subscribers"].append(
            {
                **VALID_IMPORT["subscribers"][0],
                "account": account,
                "name": sub["name"],
                "company": sub["company"],
                "address": sub["address"],
                "locale": locale,
                "currency": currency,
                "plan": f"basic-{currency.lower()}",
            }
        )
        for m, (description, quantity, unit_price) in enumerate(sub["charges"]):
            data["charges"].append(
                {
                    "id": f"{account}-{m}",
                    "account": account,
                    "period": "2026-10",
                    "description": description,
                    "quantity": quantity,
                    "unit_price": unit_price,
                }
            )
    return data


def without(data: dict[str, Any], accounts: set[str]) -> dict[str, Any]:
    return {
        "plans": data["plans"],
        "subscribers": [s for s in data["subscribers"] if s["account"] not in accounts],
        "charges": [c for c in data["charges"] if c["account"] not in accounts],
    }


# Each example is a whole billing run (database, import, run, every PDF read back with
# pypdf and pdftotext): as many examples as the suite's Hypothesis profile allows
# (tests/conftest.py; HYPOTHESIS_PROFILE=thorough for more).
@pytest.mark.slow
@settings(
    deadline=None,
    suppress_health_check=[
        HealthCheck.function_scoped_fixture,
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
    ],
)
@given(subscribers=st.lists(SUBSCRIBER, min_size=1, max_size=3))
def test_any_subscriber_is_refused_with_its_row_or_billed_inside_its_boxes(
    env: Env, subscribers: list[dict[str, Any]]
) -> None:
    pdftotext = require_tool("pdftotext", "poppler-utils", "every invoice read back as a viewer does")
    # given a database and an output folder of this example's own
    here = Path(tempfile.mkdtemp(dir=env.path))
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("INVOICING_DATABASE_URL", f"sqlite:///{here / 'invoicing.db'}")
        patch.setenv("INVOICING_OUTPUT_DIR", str(here / "output"))
        reset_settings()
        try:
            bill_any(env, here, pdftotext, subscribers)
        finally:
            forget_engines()
    reset_settings()


def bill_any(env: Env, here: Path, pdftotext: str, subscribers: list[dict[str, Any]]) -> None:
    """Import `subscribers` and bill them, in the database the environment names now."""
    assert env.invoke("db", "init").exit_code == 0
    # and an import file of arbitrary text and amounts
    data = import_file(subscribers)
    source = here / "import.json"
    source.write_text(json.dumps(data), encoding="utf-8")
    # when it is imported
    result = env.invoke("import", str(source))
    refused: set[str] = set()
    if result.exit_code != 0:
        # then a refusal is exit 2, one line per problem naming its row and account, and
        # nothing at all is imported
        assert result.exit_code == 2, result.output
        problems = [line for line in result.output.splitlines() if line.startswith("  ")]
        assert problems, result.output
        for problem in problems:
            match = ROW.match(problem)
            assert match, problem
            refused.update(ACCOUNT.findall(match[1]))
        assert "Traceback" not in result.output
        assert (count_rows(Subscriber), count_rows(Charge)) == (0, 0)
        event("some refused at import")
        # and the file without the refused subscribers imports
        data = without(data, refused)
        if not data["subscribers"]:
            return
        source.write_text(json.dumps(data), encoding="utf-8")
        second = env.invoke("import", str(source))
        assert second.exit_code == 0, second.output
    else:
        event("all imported")
    accepted = [s["account"] for s in data["subscribers"]]
    event(f"{len(accepted)} billed")

    # when the month is billed
    run = env.invoke("run", "--period", "2026-10", "--json")

    # then the run completes and bills every subscriber the import accepted
    assert run.exit_code == 0, run.output
    summary = json.loads(run.output.splitlines()[-1])
    assert (summary["status"], summary["invoices"], summary["failed"]) == ("completed", len(accepted), 0)
    with session_scope() as session:
        invoices = session.query(Invoice).order_by(Invoice.seq).all()
        assert sorted(i.subscriber.account for i in invoices) == sorted(accepted)
        seller = seller_from(get_settings())
        for invoice in invoices:
            assert invoice.status == InvoiceStatus.RENDERED
            # and every field of its invoice is inside its box
            assert_laid_out_inside_boxes(document_for(invoice, seller))
            # and the file is readable: pypdf finds the number, poppler reads every
            # glyph's text without a warning
            assert invoice.number in PdfReader(invoice.pdf_path).pages[0].extract_text()
            read = subprocess.run(
                [pdftotext, invoice.pdf_path, "-"], capture_output=True, text=True, check=True, timeout=60
            )
            assert (invoice.number in read.stdout, read.stderr) == (True, "")
