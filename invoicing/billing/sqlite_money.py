"""SQLite's money functions for issuing a run set-based (`billing.setbased`).

SQLite has no decimal type (REAL is no money), so what a set-based issue rounds is SQL
functions registered on the connection that apply the project's rule
(`billing.money.round_money`) to Decimals: each line's amount, handed back as the decimal
text the column stores, and each invoice's tax. What is only added up (a subtotal, a
total) is added in SQL as integers of minor units, exact. PostgreSQL computes the same
amounts as NUMERIC expressions.
"""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation
from functools import lru_cache
from typing import Any

from sqlalchemy import ColumnElement, Connection, Integer, String, case, cast, func

from invoicing.billing.limits import AMOUNT, PRICE, QUANTITY, line_problem, rate_problem
from invoicing.billing.money import MAX_AMOUNT, round_money

# SQLite's money functions: the project's rule on Decimals. A line's amount is decimal
# text; a tax, in minor units, is this rule only for currencies of 4 places (the others'
# totals are integers of minor units in SQL, below, rounded there too: `setbased`). A
# value that is no number, or breaks the limits, gives NULL: the subscriber is flagged
# and judged in Python, which names the reason. Cached by their arguments (so a cached
# answer is the answer): a run repeats few prices, quantities and subtotals. Measured
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
def _money_tax(subtotal: Any, rate: Any, currency: Any, places: Any) -> int | None:
    """The tax on a subtotal of `subtotal` minor units, in minor units: the project's
    rule on Decimals, exact (the amounts around it are integers of minor units in SQL)."""
    milli = rate_milli(rate)
    if milli is None:
        return None
    try:
        tax = round_money(Decimal(subtotal).scaleb(-places) * milli / PER_MILLI_PERCENT, currency)
        return int(tax.scaleb(places))
    except _NOT_A_NUMBER:
        return None


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


MONEY_FUNCTIONS = (_money_line, _money_tax)  # their caches


def register_money(connection: Connection) -> None:
    raw = connection.connection.driver_connection
    assert raw is not None
    raw.create_function("money_line", 3, _money_line, deterministic=True)
    raw.create_function("money_tax", 4, _money_tax, deterministic=True)


# --- The totals, in SQL: integers of minor units -----------------------------------------

# Lines a subtotal of minor units adds up within SQLite's 64-bit integers: each line is
# at most MAX_AMOUNT, 10 ** 14 minor units at 4 places. A subscriber with more is flagged
# (beyond the largest INVOICING_MAX_LINES, 100,000) and added up in Python.
SUMMED_LINES = (2**63 - 1) // int(MAX_AMOUNT.scaleb(4))
# MAX_AMOUNT as a fraction: at most floor(unit * _MAX_NUMERATOR / _MAX_DENOMINATOR) minor units.
_MAX_EXPONENT = -int(MAX_AMOUNT.as_tuple().exponent)
_MAX_NUMERATOR, _MAX_DENOMINATOR = int(MAX_AMOUNT.scaleb(_MAX_EXPONENT)), 10**_MAX_EXPONENT
PER_MILLI_PERCENT = 100_000  # a rate in thousandths of a percent, as a fraction


def minor_units(amount: ColumnElement[Any]) -> ColumnElement[Any]:
    """A rounded amount's text (exactly its currency's places) in minor units: `12.30` 1230."""
    return cast(func.replace(amount, ".", ""), Integer)


def rate_milli(rate: Any) -> int | None:
    """A tax rate in thousandths of a percent; None for one the limits refuse."""
    try:
        value = Decimal(rate)
        return None if rate_problem(value) else int(value.scaleb(3))
    except _NOT_A_NUMBER:
        return None


def _divided(numerator: ColumnElement[Any], denominator: Any) -> ColumnElement[Any]:
    """numerator / denominator as SQLite divides two integers: as integers, towards zero
    (SQLAlchemy's / would cast to NUMERIC first). Binding tighter than anything: both
    sides are bracketed when they are expressions."""
    return numerator.op("/", precedence=100)(denominator)


def half_up(numerator: ColumnElement[Any], denominator: int) -> ColumnElement[Any]:
    """numerator / denominator in integers, rounded half away from zero (ROUND_HALF_UP)."""
    half = denominator // 2
    return case(
        (numerator < 0, -_divided(half - numerator, denominator)),
        else_=_divided(numerator + half, denominator),
    )


def within_max(minor: ColumnElement[Any], unit: ColumnElement[Any]) -> ColumnElement[Any]:
    """Minor units (`unit` of them to one major unit), NULL beyond MAX_AMOUNT."""
    limit = _divided(unit * _MAX_NUMERATOR, _MAX_DENOMINATOR)
    return case((func.abs(minor) <= limit, minor))


def decimal_text(minor: ColumnElement[Any], unit: ColumnElement[Any]) -> ColumnElement[Any]:
    """Minor units as the decimal text `round_money` gives: `-0.05`, `12.30`, `7`."""
    sign = case((minor < 0, "-"), else_="")
    # unit + the remainder, its first digit dropped: the remainder with its leading zeros.
    fraction = func.substr(cast(unit + func.abs(minor) % unit, String), 2)
    whole = cast(_divided(func.abs(minor), unit), String)
    return case((unit == 1, cast(minor, String)), else_=sign + whole + "." + fraction)
