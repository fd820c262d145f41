"""Invoices and credit notes: one's data and state, its PDF (the recorded bytes, their
sha256 checked), and a credit note against it (`invoicing credit`'s rules)."""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Any

from fastapi import APIRouter, Header, Path, Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, ConfigDict, Field, field_validator

from invoicing.billing import BillingError
from invoicing.run.dispatch import start_credit
from invoicing.run.downloads import invoice_details, invoice_pdf
from invoicing.run.report import credit_note_of_run
from invoicing.storage import store_for
from invoicing.web.deps import ReadToken, SettingsDep, WorkersDep, WriteToken
from invoicing.web.errors import ApiError
from invoicing.web.idempotency import Answer, answered_once, fingerprint
from invoicing.web.streaming import etag_matches

router = APIRouter(prefix="/invoices", tags=["invoices"])

# The printed form of a number: prefix, period and position (INV-2026-10-000001).
Number = Annotated[
    str, Path(pattern=r"^[A-Za-z0-9][A-Za-z0-9-]{0,31}$", description="INV-2026-10-000001 or CN-...")
]


class CreditNoteRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    amount: str | None = Field(
        default=None,
        description="Tax included, as a string (12.50); default all that is left.",
        examples=["11.90"],
    )
    reason: str | None = Field(default=None, max_length=500, description="Printed on the credit note.")

    @field_validator("amount")
    @classmethod
    def _amount(cls, value: str | None) -> str | None:
        if value is None:
            return None
        from invoicing.billing.money import beyond_max, parse_decimal

        try:
            amount = parse_decimal(value)
        except ValueError:
            raise ValueError(
                f"not an amount: {value!r} (digits 0-9 and one '.', like 12.50; "
                "no exponent, sign or separators)"
            ) from None
        problem = beyond_max(amount)
        if problem:
            raise ValueError(problem)
        return value


def _details(number: str) -> dict[str, Any]:
    try:
        return invoice_details(number)
    except BillingError:
        raise ApiError(404, f"no invoice or credit note {number}") from None


@router.get("/{number}.pdf", response_class=Response, responses={200: {"content": {"application/pdf": {}}}})
def get_invoice_pdf(request: Request, token: ReadToken, number: Number) -> Response:
    """The invoice's PDF as issued: the recorded bytes, sha256 checked (409 before it is
    rendered, 500 if the stored file is not the one issued)."""
    found = _details(number)
    etag = f'"{found["sha256"]}"' if found["sha256"] else None
    if etag and etag_matches(request.headers.get("if-none-match"), etag):
        return Response(status_code=304, headers={"ETag": etag})
    pdf = invoice_pdf(number, "API download")
    headers = {
        "Content-Disposition": f'inline; filename="{number}.pdf"',
        "Cache-Control": "private, no-cache",
    }
    if etag:
        headers["ETag"] = etag
    return Response(pdf, media_type="application/pdf", headers=headers)


@router.get("/{number}")
def get_invoice(token: ReadToken, number: Number) -> dict[str, Any]:
    """Its data as issued (money as strings), its state, its credit notes."""
    return _details(number)


@router.post("/{number}/credit-notes", status_code=201)
def post_credit_note(
    token: WriteToken,
    settings: SettingsDep,
    workers: WorkersDep,
    number: Number,
    body: CreditNoteRequest,
    idempotency_key: Annotated[str | None, Header(alias="Idempotency-Key")] = None,
) -> JSONResponse:
    """Issue a credit note for the invoice, rendered through the chord; 201 with its number."""
    _details(number)

    def answer() -> Answer:
        store_for(settings).check()
        amount = Decimal(body.amount) if body.amount is not None else None
        started = start_credit(number, amount, body.reason, workers=workers, settings=settings)
        note = credit_note_of_run(started.run_id)
        return 201, {
            "number": note.number,
            "invoice": note.credited,
            "amount": str(-note.total),
            "currency": note.currency,
            "run_id": started.run_id,
        }

    what = fingerprint("POST", f"/invoices/{number}/credit-notes", body.model_dump())
    return answered_once(token, idempotency_key, what, answer)
