"""`db seed`: validate a whole data set, then insert it in one transaction.

A file with any invalid row imports nothing; every bad row is reported with its
section, position and reason, so a billing team fixes the file in one pass.
"""

from __future__ import annotations

import json
import re
import unicodedata
from dataclasses import dataclass
from datetime import date
from decimal import Decimal, InvalidOperation
from functools import lru_cache
from pathlib import Path
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
from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from invoicing.billing.period import Period
from invoicing.errors import BillingError, UsageError
from invoicing.models import Charge, Plan, Subscriber


class ImportProblems(UsageError):
    """The data set is invalid; `problems` lists every bad row."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__(f"{len(problems)} invalid row(s); nothing was imported")


# --- field checks -------------------------------------------------------------------


def _text(max_len: int) -> Any:
    def check(value: Any) -> str:
        if not isinstance(value, str):
            raise ValueError(f"must be a string, got {_json_type(value)}")
        if any(unicodedata.category(ch) in ("Cc", "Cs") for ch in value):
            raise ValueError("contains control characters")
        stripped = value.strip()
        if not stripped:
            raise ValueError("must not be empty")
        if len(stripped) > max_len:
            raise ValueError(f"longer than {max_len} characters ({len(stripped)})")
        return stripped

    return BeforeValidator(check)


def _decimal(integer_digits: int, decimals: int) -> Any:
    def check(value: Any) -> Decimal:
        # JSON numbers would arrive as float and be off by a rounding error already.
        if not isinstance(value, str):
            raise ValueError(f'must be a decimal string like "9.90", got {_json_type(value)}')
        try:
            number = Decimal(value.strip())
        except InvalidOperation:
            raise ValueError(f"not a number: {value!r}") from None
        if not number.is_finite():
            raise ValueError(f"must be a finite number, got {value!r}")
        sign, digits, exponent = number.as_tuple()
        assert isinstance(exponent, int)
        places = max(0, -exponent)
        if places > decimals:
            raise ValueError(f"more than {decimals} decimal places: {value!r}")
        if len(digits) + min(exponent, 0) > integer_digits or (
            exponent > 0 and len(digits) + exponent > integer_digits
        ):
            raise ValueError(f"more than {integer_digits} digits before the decimal point: {value!r}")
        return number

    return BeforeValidator(check)


def _non_negative(value: Decimal) -> Decimal:
    if value < 0:
        raise ValueError(f"must not be negative, got {value}")
    return value


def _date(value: Any) -> date:
    if not isinstance(value, str):
        raise ValueError(f"must be a date string YYYY-MM-DD, got {_json_type(value)}")
    try:
        return date.fromisoformat(value) if re.fullmatch(r"\d{4}-\d{2}-\d{2}", value) else _bad_date(value)
    except ValueError:
        raise ValueError(f"not a date (YYYY-MM-DD): {value!r}") from None


def _bad_date(value: str) -> date:
    raise ValueError(value)


def _period(value: Any) -> str:
    if not isinstance(value, str):
        raise ValueError(f"must be a period string YYYY-MM, got {_json_type(value)}")
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
    if not isinstance(value, str) or not re.fullmatch(r"[^@\s]+@[^@\s]+\.[^@\s]+", value) or len(value) > 254:
        raise ValueError(f"not an email address: {_short(value)}")
    return value


def _json_type(value: Any) -> str:
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


Text200 = Annotated[str, _text(200)]
Code = Annotated[str, BeforeValidator(_account)]
Price = Annotated[Decimal, _decimal(12, 6), AfterValidator(_non_negative)]
Quantity = Annotated[Decimal, _decimal(12, 4)]
UnitPrice = Annotated[Decimal, _decimal(12, 6)]  # negative: a credit or discount line
TaxRate = Annotated[Decimal, _decimal(3, 3), AfterValidator(_non_negative)]
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

    @model_validator(mode="after")
    def _consistent(self) -> SubscriberRow:
        if self.tax_rate > 100:
            raise ValueError(f"tax_rate: must be between 0 and 100, got {self.tax_rate}")
        if self.active_to is not None and self.active_to < self.active_from:
            raise ValueError("active_to: before active_from")
        return self


class ChargeRow(_Row):
    account: Code
    period: Annotated[str, BeforeValidator(_period)]
    description: Text200
    quantity: Quantity
    unit_price: UnitPrice


SECTIONS: dict[str, type[_Row]] = {"plans": PlanRow, "subscribers": SubscriberRow, "charges": ChargeRow}
KEYS = {"plans": "code", "subscribers": "account", "charges": "account"}


@dataclass(frozen=True)
class ImportSummary:
    plans: int
    subscribers: int
    charges: int


# --- reading and validating -----------------------------------------------------------


def load_file(path: Path) -> Any:
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise ImportProblems([f"{path}: no such file"]) from None
    except IsADirectoryError:
        raise ImportProblems([f"{path}: is a directory, not a JSON file"]) from None
    except OSError as exc:
        raise ImportProblems([f"{path}: cannot read: {exc.strerror}"]) from None
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ImportProblems([f"{path}: not UTF-8 text (byte {exc.start})"]) from None
    try:
        # Floats would lose cents before we ever saw them; keep numbers exact for the message.
        return json.loads(text, parse_float=Decimal, parse_constant=_reject_constant)
    except json.JSONDecodeError as exc:
        raise ImportProblems(
            [f"{path}: not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}"]
        ) from None
    except ValueError as exc:
        raise ImportProblems([f"{path}: {exc}"]) from None


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not allowed in an import file")


def _describe_error(section: str, index: int, raw: Any, exc: ValidationError) -> list[str]:
    key = KEYS[section]
    ident = ""
    if isinstance(raw, dict) and isinstance(raw.get(key), str) and len(raw[key]) <= 64:
        ident = f" ({key} {raw[key]!r})"
    problems = []
    for error in exc.errors(include_url=False):
        field = ".".join(str(part) for part in error["loc"])
        if error["type"] == "value_error":
            message = str(error["ctx"]["error"])
        elif error["type"] == "missing":
            message = "missing"
        elif error["type"] == "extra_forbidden":
            message = "unknown field"
        elif error["type"] == "model_type":
            message = f"must be an object, got {_json_type(raw)}"
        else:
            message = error["msg"]
        where = f"{section}[{index}]{ident}"
        problems.append(f"{where}: {field}: {message}" if field else f"{where}: {message}")
    return problems


def import_data(session: Session, data: Any) -> ImportSummary:
    """Validate every row and insert the data set in the caller's transaction.

    One streaming pass: rows are checked one by one and inserted in chunks while no
    problem has been found, so 100,000 subscribers never sit in memory as models.
    Any problem means ImportProblems listing every bad row, and the caller's
    transaction (`session_scope`) rolls back whatever was inserted: all or nothing.
    """
    if not isinstance(data, dict):
        raise ImportProblems(
            [f"the file must hold a JSON object with plans, subscribers and charges, got {_json_type(data)}"]
        )
    load = _Loader(session)
    unknown = sorted(set(data) - set(SECTIONS))
    if unknown:
        load.problems.append(
            f"unknown section(s): {', '.join(map(str, unknown))} (expected plans, subscribers, charges)"
        )
    counts = {section: load.section(section, data.get(section, [])) for section in SECTIONS}
    if load.problems:
        raise ImportProblems(load.problems)
    return ImportSummary(counts["plans"], counts["subscribers"], counts["charges"])


class _Loader:
    """Checks rows against each other and the database; inserts while all is well."""

    CHUNK = 5000

    def __init__(self, session: Session) -> None:
        self.session = session
        self.problems: list[str] = []
        self.existing_plans = dict(session.execute(select(Plan.code, Plan.currency)).all())
        self.existing_accounts = set(session.scalars(select(Subscriber.account)).all())
        self.plan_currency = dict(self.existing_plans)
        self.accounts = set(self.existing_accounts)
        # Keys of rows already reported invalid: rows referring to them get no second error.
        self.rejected: dict[str, set[str]] = {section: set() for section in SECTIONS}
        self.plan_ids: dict[str, int] = {}
        self.subscriber_ids: dict[str, int] = {}

    def section(self, section: str, rows: Any) -> int:
        if not isinstance(rows, list):
            self.problems.append(f"{section}: must be a list, got {_json_type(rows)}")
            return 0
        model = SECTIONS[section]
        check = getattr(self, f"_check_{section}")
        buffer: list[dict[str, Any]] = []
        count = 0
        for index, raw in enumerate(rows):
            try:
                row = model.model_validate(raw)
            except ValidationError as exc:
                self.problems.extend(_describe_error(section, index, raw, exc))
                if isinstance(raw, dict) and isinstance(raw.get(KEYS[section]), str):
                    self.rejected[section].add(raw[KEYS[section]])
                continue
            values = check(index, row)
            if values is None:
                continue
            count += 1
            if not self.problems:
                buffer.append(values)
                if len(buffer) >= self.CHUNK:
                    self._insert(section, buffer)
        if buffer and not self.problems:
            self._insert(section, buffer)
        return count

    def _insert(self, section: str, buffer: list[dict[str, Any]]) -> None:
        if section == "plans":
            self.session.execute(insert(Plan), buffer)
        elif section == "subscribers":
            if not self.plan_ids:
                self.plan_ids = dict(self.session.execute(select(Plan.code, Plan.id)).all())
            for values in buffer:
                values["plan_id"] = self.plan_ids[values.pop("plan")]
            self.session.execute(insert(Subscriber), buffer)
        else:
            if not self.subscriber_ids:
                self.subscriber_ids = dict(
                    self.session.execute(select(Subscriber.account, Subscriber.id)).all()
                )
            for values in buffer:
                values["subscriber_id"] = self.subscriber_ids[values.pop("account")]
            self.session.execute(insert(Charge), buffer)
        buffer.clear()

    def _check_plans(self, index: int, plan: PlanRow) -> dict[str, Any] | None:
        if plan.code in self.plan_currency:
            origin = "the database" if plan.code in self.existing_plans else "this file"
            self.problems.append(
                f"plans[{index}] (code {plan.code!r}): duplicate plan code, already in {origin}"
            )
            return None
        self.plan_currency[plan.code] = plan.currency
        return plan.model_dump()

    def _check_subscribers(self, index: int, sub: SubscriberRow) -> dict[str, Any] | None:
        where = f"subscribers[{index}] (account {sub.account!r})"
        if sub.account in self.accounts:
            origin = "the database" if sub.account in self.existing_accounts else "this file"
            self.problems.append(f"{where}: duplicate account, already in {origin}")
            return None
        self.accounts.add(sub.account)
        if sub.plan in self.rejected["plans"]:
            self.rejected["subscribers"].add(sub.account)
            return None
        if sub.plan not in self.plan_currency:
            self.problems.append(f"{where}: plan: unknown plan {sub.plan!r}")
            return None
        if self.plan_currency[sub.plan] != sub.currency:
            self.problems.append(
                f"{where}: currency: {sub.currency} differs from plan {sub.plan!r} priced in "
                f"{self.plan_currency[sub.plan]}"
            )
            return None
        return sub.model_dump()

    def _check_charges(self, index: int, charge: ChargeRow) -> dict[str, Any] | None:
        if charge.account not in self.accounts:
            if charge.account not in self.rejected["subscribers"]:
                self.problems.append(
                    f"charges[{index}] (account {charge.account!r}): account: unknown account"
                )
            return None
        return charge.model_dump()
