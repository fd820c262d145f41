"""SQLite's money functions for issuing a run set-based (`billing.setbased`).

SQLite has no decimal type (REAL is no money), so the amounts of a set-based issue are
SQL functions registered on the connection that apply the project's rule
(`billing.money.round_money`) to Decimals and hand back the decimal text the column
stores. PostgreSQL computes the same amounts as NUMERIC expressions.
"""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation
from functools import lru_cache
from typing import Any

from sqlalchemy import Connection

from invoicing.billing.limits import AMOUNT, PRICE, QUANTITY, amount_problem, line_problem, rate_problem
from invoicing.billing.money import MAX_AMOUNT, round_money

# SQLite's money functions: the project's rule on Decimals, decimal text in and out. A
# value that is no number, or breaks the limits, gives NULL: the subscriber is flagged
# and judged in Python, which names the reason. Cached by their arguments (text, so a
# cached answer is the answer): a run repeats few prices, quantities and subtotals, and
# SQLite evaluates money_tax twice per invoice (once more inside money_add). Measured
# issuing 100,000 synthetic subscribers: 4.8 s of CPU uncached. 16,384 answers each: at
# 300,000 subscribers 65,536 held 64 MB more (issuing added 176 MB to the peak, 112 MB
# with these; 512,000 misses instead of 400,000). Emptied when the run is issued.
_NOT_A_NUMBER = (ArithmeticError, InvalidOperation, TypeError, ValueError, LookupError)
_CACHED = lru_cache(maxsize=1 << 14)


@_CACHED
def _money_line(quantity: Any, unit_price: Any, currency: Any) -> str | None:
    try:
        q, p = Decimal(quantity), Decimal(unit_price)
        amount = round_money(q * p, currency)
    except _NOT_A_NUMBER:
        return None
    text = str(amount)
    if _plain(quantity, QUANTITY.scale) and _plain(unit_price, PRICE.scale) and _plain(text, AMOUNT.scale):
        return text
    return None if line_problem(q, p, amount) else text


@_CACHED
def _money_tax(subtotal: Any, rate: Any, currency: Any) -> str | None:
    try:
        rate_d = Decimal(rate)
        if not _rate_fits(rate):
            return None
        return _fit(round_money(Decimal(subtotal) * rate_d / 100, currency))
    except _NOT_A_NUMBER:
        return None


@_CACHED
def _money_add(a: Any, b: Any) -> str | None:
    try:
        return _fit(Decimal(a) + Decimal(b))
    except _NOT_A_NUMBER:
        return None


@_CACHED
def _rate_fits(rate: Any) -> bool:  # a run has a few rates, and the tax as many subtotals
    return not rate_problem(Decimal(rate))


def _fit(amount: Decimal) -> str | None:
    """An invoice's amount as its text, NULL if the limits refuse it: the totals' check is
    then IS NULL, not a fourth function called three times an invoice (0.7 s at 100,000)."""
    text = str(amount)
    return text if _plain(text, AMOUNT.scale) or not amount_problem(amount) else None


# A plain decimal text of at most _PLAIN characters (sign, digits, the column's places)
# is below 10 ** _PLAIN <= MAX_AMOUNT and fits: most amounts, told by a pattern; the rest
# by `billing.limits` (200,000 distinct totals and 45,000 quantity and price pairs missed
# any cache: 2.2 s of the totals' 6.4 s under cProfile).
_PLAIN = len(str(int(MAX_AMOUNT))) - 1
_PLAIN_TEXTS = {
    column.scale: re.compile(rf"-?[0-9]+(\.[0-9]{{1,{column.scale}}})?")
    for column in (QUANTITY, PRICE, AMOUNT)
}
assert all(_PLAIN <= column.precision - column.scale for column in (QUANTITY, PRICE, AMOUNT))


def _plain(text: Any, scale: int) -> bool:
    return isinstance(text, str) and len(text) <= _PLAIN and _PLAIN_TEXTS[scale].fullmatch(text) is not None


class _MoneySum:
    """sum() of decimal text, exact; NULL if any is NULL or no number, or if the limits
    refuse the sum."""

    def __init__(self) -> None:
        self.total: Decimal | None = Decimal(0)

    def step(self, value: Any) -> None:
        if self.total is None:
            return
        try:
            self.total += Decimal(value)
        except _NOT_A_NUMBER:
            self.total = None

    def finalize(self) -> str | None:
        return None if self.total is None else _fit(self.total)


MONEY_FUNCTIONS = (_money_line, _money_tax, _money_add, _rate_fits)  # their caches


def register_money(connection: Connection) -> None:
    raw = connection.connection.driver_connection
    assert raw is not None
    raw.create_function("money_line", 3, _money_line, deterministic=True)
    raw.create_function("money_tax", 3, _money_tax, deterministic=True)
    raw.create_function("money_add", 2, _money_add, deterministic=True)
    raw.create_aggregate("money_sum", 1, _MoneySum)
