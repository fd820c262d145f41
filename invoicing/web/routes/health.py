"""GET /health: the one endpoint without a token, for load balancers and compose."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from invoicing.db import check_database
from invoicing.errors import InvoicingError
from invoicing.web.errors import ApiError

router = APIRouter(tags=["health"])


@router.get("/health")
def health() -> dict[str, Any]:
    """`ok` once the database answers at the schema's revision (503 otherwise)."""
    try:
        check_database()
    except InvoicingError as exc:
        raise ApiError(503, str(exc)) from None
    return {"status": "ok"}
