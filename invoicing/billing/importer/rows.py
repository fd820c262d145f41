"""The rows of an import file and the checks on each field, one message per problem.

Amounts are decimal strings (a JSON number would be a float, off by a rounding error
before we ever saw it); text is stripped, never markup, never control characters, and
cleaned as every output shows it (invoicing.untrusted).
"""

from __future__ import annotations

import re
import unicodedata
from datetime import date
from decimal import Decimal
from functools import lru_cache
from typing import Annotated, Any

from babel import Locale, UnknownLocaleError
from babel.numbers import list_currencies
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    model_validator,
)

from invoicing.billing.limits import PRICE, QUANTITY, RATE, column_problem
from invoicing.billing.money import beyond_max, parse_decimal
from invoicing.billing.period import Period
from invoicing.errors import BillingError
from invoicing.identifiers import compact_vat, vat_id_problem
from invoicing.models import Exact
from invoicing.untrusted import clean

# --- field checks -------------------------------------------------------------------


def _text(max_len: int, cleaned: bool = True) -> Any:
    """`cleaned=False` for an identifier that is never shown (a charge's id): it is
    matched against the stored ones as given."""

    def check(value: Any) -> str:
        if not isinstance(value, str):
            raise ValueError(f"must be a string, got {json_type(value)}")
        if any(unicodedata.category(ch) in ("Cc", "Cs") for ch in value):
            raise ValueError("contains control characters")
        # Stored as every output shows it (bidi and invisible format characters dropped,
        # NFC, marks capped): the rules are untrusted.clean's, the same as the invoice's.
        stripped = (clean(value) if cleaned else value).strip()
        if not stripped:
            raise ValueError("must not be empty")
        if len(stripped) > max_len:
            raise ValueError(f"longer than {max_len} characters ({len(stripped)})")
        return stripped

    return BeforeValidator(check)


def _decimal(column: Exact, money: bool = False) -> Any:
    """A decimal string (`money.parse_decimal`) that fits `column`; within MAX_AMOUNT if
    it is `money`."""

    def check(value: Any) -> Decimal:
        # JSON numbers would arrive as float and be off by a rounding error already.
        if not isinstance(value, str):
            raise ValueError(f'must be a decimal string like "9.90", got {json_type(value)}')
        try:
            number = parse_decimal(value)  # ValueError naming the value
        except ValueError as exc:
            raise ValueError(_decimal_hint(value, str(exc))) from None
        problem = column_problem(number, column, repr(value)) or (beyond_max(number) if money else None)
        if problem:
            raise ValueError(problem)
        return number

    return BeforeValidator(check)


_DECIMAL_COMMA = re.compile(r"-?[0-9]+,[0-9]+")


def _decimal_hint(value: str, problem: str) -> str:
    """`9,90` is what a spreadsheet in much of Europe writes: say what to write instead."""
    if _DECIMAL_COMMA.fullmatch(value.strip()):
        return (
            f"not a number: {value!r}: a decimal comma; write {value.strip().replace(',', '.')!r} (a point)"
        )
    return problem


def _non_negative(value: Decimal) -> Decimal:
    if value < 0:
        raise ValueError(f"must not be negative, got {value}")
    return value


def _date(value: Any) -> date:
    if not isinstance(value, str):
        raise ValueError(f"must be a date string YYYY-MM-DD, got {json_type(value)}")
    try:
        # ASCII digits only: \d would take any script's ("٢٠٢٦-٠١-٠١").
        return (
            date.fromisoformat(value)
            if re.fullmatch(r"[0-9]{4}-[0-9]{2}-[0-9]{2}", value)
            else _bad_date(value)
        )
    except ValueError:
        raise ValueError(f"not a date (YYYY-MM-DD): {value!r}") from None


def _bad_date(value: str) -> date:
    raise ValueError(value)


def _period(value: Any) -> str:
    if not isinstance(value, str):
        raise ValueError(f"must be a period string YYYY-MM, got {json_type(value)}")
    try:
        return str(Period.parse(value))
    except BillingError as exc:
        raise ValueError(str(exc)) from None


@lru_cache(maxsize=1)
def _currencies() -> frozenset[str]:
    return frozenset(list_currencies())


@lru_cache(maxsize=1)
def _countries() -> frozenset[str]:
    return frozenset(code for code in map(str, Locale("en").territories) if re.fullmatch(r"[A-Z]{2}", code))


def _currency(value: Any) -> str:
    if not isinstance(value, str) or value not in _currencies():
        raise ValueError(f"unknown currency {value!r} (ISO 4217 code like EUR)")
    return value


def _country(value: Any) -> str:
    if not isinstance(value, str) or value not in _countries():
        raise ValueError(f"unknown country {value!r} (ISO 3166 alpha-2 code like DE)")
    return value


@lru_cache(maxsize=512)
def _known_locale(value: str) -> bool:
    if not re.fullmatch(r"[a-z]{2,3}(_[A-Za-z]{4})?(_[A-Z]{2}|_\d{3})?", value):
        return False
    try:
        Locale.parse(value)
    except (UnknownLocaleError, ValueError):
        return False
    return True


def _locale(value: Any) -> str:
    if not isinstance(value, str) or not _known_locale(value):
        raise ValueError(f"unknown locale {value!r} (like de_DE)")
    return value


def _account(value: Any) -> str:
    if not isinstance(value, str) or not re.fullmatch(r"[A-Za-z0-9._-]{1,64}", value):
        raise ValueError(f"must be 1-64 characters of A-Z a-z 0-9 . _ -, got {_short(value)}")
    return value


def _address(value: Any) -> list[str]:
    if not isinstance(value, list) or not value:
        raise ValueError("must be a list of 1 to 6 address lines")
    if len(value) > 6:
        raise ValueError(f"at most 6 address lines, got {len(value)}")
    check = _text(200).func
    lines = []
    for index, line in enumerate(value):
        try:
            lines.append(check(line))
        except ValueError as exc:
            raise ValueError(f"line {index + 1}: {exc}") from None
    return lines


def _email(value: Any) -> str:
    if isinstance(value, str):
        value = clean(value)
    if not isinstance(value, str) or not re.fullmatch(r"[^@\s]+@[^@\s]+\.[^@\s]+", value) or len(value) > 254:
        raise ValueError(f"not an email address: {_short(value)}")
    return value


def json_type(value: Any) -> str:
    return {
        dict: "an object",
        list: "a list",
        bool: "true/false",
        type(None): "null",
        int: "a number",
        float: "a number",
        Decimal: "a number",
        str: "a string",
    }.get(type(value), type(value).__name__)


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _optional(check: Any) -> Any:
    # Absent, null or an empty CSV cell: not given.
    def optional(value: Any) -> Any:
        if value is None or (isinstance(value, str) and not value.strip()):
            return None
        return check(value)

    return optional


def _vat_id(value: Any) -> str | None:
    """Format and, where the country defines them, check digits (python-stdnum)."""
    value = _optional(_text(32).func)(value)
    if value is None:
        return None
    problem = vat_id_problem(value)
    if problem is not None:
        raise ValueError(problem)
    return compact_vat(value)


EINVOICE_FORMATS = ("factur-x", "xrechnung")
# How the invoice reaches the subscriber (models.Channel); absent: INVOICING_DEFAULT_CHANNEL.
CHANNELS = ("print", "email", "both")
# UNCL 5305 tax categories EN 16931 uses for VAT.
TAX_CATEGORIES = ("S", "Z", "E", "AE", "K", "G", "O", "L", "M")
# Those that charge no VAT (BR-<category>-05: rate 0), and those that say why (BT-120).
ZERO_RATED = frozenset({"Z", "E", "AE", "K", "G", "O"})
WITH_REASON = frozenset({"E", "AE", "K", "G", "O"})


def _one_of(name: str, allowed: tuple[str, ...]) -> Any:
    def check(value: Any) -> str | None:
        if value is None or (isinstance(value, str) and not value.strip()):
            return None
        if not isinstance(value, str) or value.strip() not in allowed:
            raise ValueError(f"must be one of {', '.join(allowed)} or null, got {_short(value)}")
        return value.strip()

    return check


Text200 = Annotated[str, _text(200)]
OptionalText200 = Annotated[str | None, BeforeValidator(_optional(_text(200).func))]
OptionalText300 = Annotated[str | None, BeforeValidator(_optional(_text(300).func))]
Code = Annotated[str, BeforeValidator(_account)]
Price = Annotated[Decimal, _decimal(PRICE, money=True), AfterValidator(_non_negative)]
Quantity = Annotated[Decimal, _decimal(QUANTITY)]
UnitPrice = Annotated[Decimal, _decimal(PRICE, money=True)]  # negative: a credit or discount line
TaxRate = Annotated[Decimal, _decimal(RATE), AfterValidator(_non_negative)]
Currency = Annotated[str, BeforeValidator(_currency)]
Day = Annotated[date, BeforeValidator(_date)]


class _Row(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class PlanRow(_Row):
    code: Code
    name: Text200
    monthly_fee: Price
    currency: Currency


class SubscriberRow(_Row):
    account: Code
    name: Text200
    email: Annotated[str, BeforeValidator(_email)]
    address: Annotated[list[str], BeforeValidator(_address)]
    country: Annotated[str, BeforeValidator(_country)]
    locale: Annotated[str, BeforeValidator(_locale)]
    currency: Currency
    tax_rate: TaxRate
    plan: Code
    active_from: Day
    active_to: Day | None = Field(default=None)
    # Business customers and e-invoices (EN 16931); all optional.
    company: OptionalText200 = None
    vat_id: Annotated[str | None, BeforeValidator(_vat_id)] = None
    buyer_reference: OptionalText200 = None
    einvoice: Annotated[str | None, BeforeValidator(_one_of("einvoice", EINVOICE_FORMATS))] = None
    tax_category: Annotated[str | None, BeforeValidator(_one_of("tax_category", TAX_CATEGORIES))] = None
    exemption_reason: OptionalText300 = None  # BT-120: why no VAT is charged (E needs one)
    channel: Annotated[str | None, BeforeValidator(_one_of("channel", CHANNELS))] = None

    @model_validator(mode="after")
    def _consistent(self) -> SubscriberRow:
        # Every inconsistency at once, one per line (describe_error splits them).
        found = []
        if self.tax_rate > 100:
            found.append(f"tax_rate: must be between 0 and 100, got {self.tax_rate}")
        if self.active_to is not None and self.active_to < self.active_from:
            found.append("active_to: before active_from")
        category = self.tax_category
        if category in ZERO_RATED and self.tax_rate != 0:
            found.append(
                f"tax_category: {category} charges no VAT, so tax_rate must be 0 (got {self.tax_rate})"
            )
        if category == "S" and self.tax_rate == 0:
            found.append("tax_category: S (standard rated) needs a tax_rate above 0")
        if self.exemption_reason and category not in WITH_REASON:
            found.append(
                "exemption_reason: only for a tax_category that charges no VAT for a reason "
                f"(E, AE, K, G or O), got {category or 'none'}"
            )
        if found:
            raise ValueError("\n".join(found))
        return self

    def columns(self) -> dict[str, Any]:
        """The subscriber's columns (plan by code)."""
        return self.model_dump()


class ChargeRow(_Row):
    # The usage feed's own event id: importing it again is a no-op, never a second charge.
    id: Annotated[str | None, BeforeValidator(_optional(_text(128, cleaned=False).func))] = None
    account: Code
    period: Annotated[str, BeforeValidator(_period)]
    description: Text200
    quantity: Quantity
    unit_price: UnitPrice

    def content(self) -> tuple[str, str, str, Decimal, Decimal]:
        """What a charge is, for telling a re-import from a reused id."""
        return (self.account, self.period, self.description, self.quantity, self.unit_price)


SECTIONS: dict[str, type[_Row]] = {"plans": PlanRow, "subscribers": SubscriberRow, "charges": ChargeRow}
KEYS = {"plans": "code", "subscribers": "account", "charges": "account"}


def describe_error(where: str, exc: ValidationError, raw: Any) -> list[str]:
    """One line per problem: `where: field: reason`."""
    problems: list[str] = []
    for error in exc.errors(include_url=False):
        field = ".".join(str(part) for part in error["loc"])
        if error["type"] == "value_error" and not field and "\n" in str(error["ctx"]["error"]):
            # a row's consistency checks: each problem names its own field
            problems.extend(f"{where}: {line}" for line in str(error["ctx"]["error"]).splitlines())
            continue
        if error["type"] == "value_error":
            message = str(error["ctx"]["error"])
        elif error["type"] == "missing":
            message = "missing"
        elif error["type"] == "extra_forbidden":
            message = "unknown field"
        elif error["type"] == "model_type":
            message = f"must be an object, got {json_type(raw)}"
        else:
            message = error["msg"]
        problems.append(f"{where}: {field}: {message}" if field else f"{where}: {message}")
    return problems
