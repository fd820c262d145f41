"""Billing rules, free of Celery and files: periods, money, issuing, what gets printed, import."""

from typing import TYPE_CHECKING

from invoicing.errors import BillingError
from invoicing.lazy import lazy_names

if TYPE_CHECKING:
    from invoicing.billing.counts import count_by_status
    from invoicing.billing.documents import document_for, draft_document, seller_from
    from invoicing.billing.issue import active_in, create_run, invoice_number, issue_dates
    from invoicing.billing.money import Totals, compute_totals, minor_unit, round_money
    from invoicing.billing.period import Period

# The names below are imported when first used (PEP 562), as in invoicing.pdf: issuing
# and documents bring the set-based issuer, the e-invoice checks and Babel's dates,
# which a command that only reads a run (`status`, `runs`) never needs.
_LAZY = {
    "Period": "period",
    "Totals": "money",
    "compute_totals": "money",
    "minor_unit": "money",
    "round_money": "money",
    "count_by_status": "counts",
    "active_in": "issue",
    "create_run": "issue",
    "invoice_number": "issue",
    "issue_dates": "issue",
    "document_for": "documents",
    "draft_document": "documents",
    "seller_from": "documents",
}

__getattr__ = lazy_names(__name__, _LAZY)


__all__ = [
    "BillingError",
    "Period",
    "Totals",
    "active_in",
    "compute_totals",
    "count_by_status",
    "create_run",
    "document_for",
    "draft_document",
    "invoice_number",
    "issue_dates",
    "minor_unit",
    "round_money",
    "seller_from",
]
