"""Errors a user sees: one line each, and the exit code the CLI gives them.

Library modules raise these; only `cli` turns them into messages and exit codes.
"""


def first_line(exc: BaseException, with_type: bool = False) -> str:
    """An exception as one line a person can read: its message's first line, or its type.

    `with_type` prefixes the class name ("OSError: ..."), for reasons recorded on an
    invoice or a run, where the kind of failure matters.
    """
    text = str(exc).strip()
    line = text.splitlines()[0] if text else ""
    if not line:
        return type(exc).__name__
    return f"{type(exc).__name__}: {line}" if with_type else line


def plural(count: int, noun: str, nouns: str | None = None) -> str:
    """`1 invoice`, `2 invoices`: a count and its noun, in the form English gives it.

    The CLI's messages are English and untranslated, and English has these two forms;
    what is translated (the invoice's texts) takes its plural rules from the catalogs
    (Babel's `ngettext`, pdf/translate.py). `nouns` for a plural that is not noun + "s".
    """
    return f"{count} {noun if count == 1 else (nouns or noun + 's')}"


class InvoicingError(Exception):
    """Something failed (exit code 1)."""

    exit_code = 1


class UsageError(InvoicingError):
    """Bad usage or bad input; nothing was changed (exit code 2)."""

    exit_code = 2


class BillingError(UsageError):
    """A billing request that cannot be served as asked (bad period, unknown account)."""


class ImportProblems(UsageError):
    """The data set is invalid; `problems` lists every bad row. (Here, not in the
    importer: every command's error handler catches it, and importing the importer
    costs each command a second of start-up.)"""

    def __init__(self, problems: list[str], rows: int = 0, others: int | None = None) -> None:
        """`rows`: how many distinct rows the problems are about (a row may have several);
        `others`: how many problems are about no row (a file, a setting); all of them
        when no rows are named."""
        self.problems = problems
        self.rows = rows
        others = len(problems) if others is None else others
        if not rows:
            what = plural(len(problems), "problem")
        elif others > 0:
            what = f"{plural(rows, 'invalid row')} and {plural(others, 'other problem')}"
        else:
            what = plural(rows, "invalid row")
        super().__init__(f"{what}; nothing was imported")
