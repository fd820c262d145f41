"""The billing period: one calendar month, parsed once where it enters (CLI, import, beat)."""

from __future__ import annotations

import calendar
import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from functools import cached_property

from invoicing.errors import BillingError

# ASCII digits only: a str pattern's \d would take any script's digits ("٢٠٢٦-١٠").
_PERIOD = re.compile(r"([0-9]{4})-([0-9]{2})")

# The months a period may be, the same rule wherever one enters (`run`, `--dry-run`,
# `render`, `merge`, import, tasks). Invoice numbers, folders and the issue date (the day
# after the period) are derived from it: 9999-12 has no next day, and a year no billing
# team means (0001, 2400) would be issued with gapless numbers nobody can take back.
# This century covers every month a subscription system of today holds or plans.
FIRST_YEAR, LAST_YEAR = 2000, 2099

# How far back a run may bill without `--force-period`: two years covers a late
# correction of last year's books; anything older is more likely a typo (2062 for 2026,
# 2016 for 2026) than a team billing a month it forgot.
MAX_MONTHS_BACK = 24


@dataclass(frozen=True, order=True)
class Period:
    """A month, written `YYYY-MM` in the database, in file names and on the command line."""

    year: int
    month: int

    @classmethod
    def parse(cls, text: object) -> Period:
        """'2026-10' (surrounding blanks allowed) -> Period(2026, 10); BillingError otherwise."""
        match = _PERIOD.fullmatch(text.strip()) if isinstance(text, str) else None
        if not match or not 1 <= int(match[2]) <= 12:
            raise BillingError(f"not a period (YYYY-MM): {text!r}")
        if not FIRST_YEAR <= int(match[1]) <= LAST_YEAR:
            raise BillingError(f"not a period (YYYY-MM) from {FIRST_YEAR}-01 to {LAST_YEAR}-12: {text!r}")
        return cls(int(match[1]), int(match[2]))

    @classmethod
    def previous(cls, today: date | None = None) -> Period:
        """The month before `today` (UTC): what the nightly run bills."""
        today = today or datetime.now(UTC).date()
        last = today.replace(day=1) - timedelta(days=1)
        return cls(last.year, last.month)

    def months_before(self, other: Period) -> int:
        """How many months this period lies before `other` (negative: after it)."""
        return (other.year - self.year) * 12 + other.month - self.month

    def billing_refusal(self, today: date | None = None) -> str | None:
        """Why a run for this period needs confirming (`--force-period`), or None.

        A month that has not ended is not billed: its usage is still arriving, and its
        invoices would carry a date in the future. One more than MAX_MONTHS_BACK months
        back is refused too. The nightly run's period (`previous`) is never refused.
        """
        current = Period.previous(today).next()
        back = self.months_before(current)
        if back <= 0:
            when = "the current month" if back == 0 else "a future month"
            return f"period {self} has not ended yet ({when}; billable from {self.next()}-01)"
        if back > MAX_MONTHS_BACK:
            return f"period {self} lies more than {MAX_MONTHS_BACK} months back"
        return None

    @cached_property
    def start(self) -> date:
        return date(self.year, self.month, 1)

    @cached_property
    def end(self) -> date:
        return date(self.year, self.month, calendar.monthrange(self.year, self.month)[1])

    @property
    def days(self) -> int:
        return self.end.day

    def next(self) -> Period:
        return Period(self.year + self.month // 12, self.month % 12 + 1)

    def label(self, locale: str) -> str:
        """The month as a reader of `locale` abbreviates it: "Okt. 2026", "oct. 2026", "2026年10月"."""
        from invoicing.pdf.translate import month  # Babel's dates: parsing needs none

        return month(locale, self.start)

    def __str__(self) -> str:
        return f"{self.year:04d}-{self.month:02d}"
