"""Billing rules, free of Celery and files: periods, money, issuing, what gets printed, import."""

from invoicing.billing.documents import document_for, draft_document, seller_from
from invoicing.billing.issue import active_in, count_by_status, create_run, invoice_number, issue_dates
from invoicing.billing.money import Totals, compute_totals, minor_unit, round_money
from invoicing.billing.period import Period
from invoicing.errors import BillingError

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
