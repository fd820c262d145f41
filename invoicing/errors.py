"""Errors a user sees: one line each, and the exit code the CLI gives them.

Library modules raise these; only `cli` turns them into messages and exit codes.
"""


class InvoicingError(Exception):
    """Something failed (exit code 1)."""

    exit_code = 1


class UsageError(InvoicingError):
    """Bad usage or bad input; nothing was changed (exit code 2)."""

    exit_code = 2


class BillingError(UsageError):
    """A billing request that cannot be served as asked (bad period, unknown account)."""
