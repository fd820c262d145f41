"""Import as an idempotent upsert, all or nothing, in the caller's transaction.

Plans match by code and subscribers by account: a new one is created, a changed one
updated, an identical one left alone ("unchanged", never "invalid"). Charges are never
updated: each has a key, the usage feed's own `id` when it gives one, otherwise a digest
of its account, period, description, quantity, unit price and its occurrence within the
file, so importing the same file twice adds nothing. An id seen again with other content
is an error. A charge for a period already billed for its subscriber is "deferred": it
goes on the subscriber's next invoice (`billing.issue`), never lost, never billed twice.

What a run cannot hold is refused here, naming the rows (`billing.limits`): a line beyond
the largest amount, an account and period with more charges than an invoice has lines,
an invoice (the plan's whole monthly fee, every unbilled charge of the account for the
period, already imported or in this import, tax at the subscriber's rate, by the money
rule) whose subtotal, tax or total is beyond the largest amount. A deferred charge is
counted with its own period; should the next invoice it joins still break the rule,
the run skips that subscriber with the reason.

One streaming pass in chunks, so 100,000 subscribers never sit in memory as models. Any
problem means ImportProblems listing every bad row, and the caller's transaction rolls
back whatever was written.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, cast

from pydantic import ValidationError
from sqlalchemy import Table, and_, func, insert, select
from sqlalchemy.orm import Session

from invoicing.billing.documents import seller_from
from invoicing.billing.einvoices import SELLER_SETTINGS, subscriber_problems
from invoicing.billing.importer.rows import (
    KEYS,
    SECTIONS,
    ChargeRow,
    PlanRow,
    SubscriberRow,
    describe_error,
)
from invoicing.billing.importer.sources import Row, Source, from_data
from invoicing.billing.money import MAX_AMOUNT, round_money
from invoicing.billing.period import Period
from invoicing.config import Settings, get_settings
from invoicing.db import analyze
from invoicing.errors import ImportProblems, plural
from invoicing.models import Charge, DocumentKind, Invoice, Plan, Subscriber
from invoicing.pdf.einvoice.profiles import Problem

CHUNK = 5000
# Rows an import writes from which it refreshes PostgreSQL's statistics of the tables it
# grew before its own look-ups (`_fresh_statistics`).
ANALYZE_AFTER = 10_000


@dataclass
class Counts:
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    deferred: int = 0  # charges for a period already billed: they go on the next invoice

    def as_dict(self) -> dict[str, int]:
        return {
            "created": self.created,
            "updated": self.updated,
            "unchanged": self.unchanged,
            "deferred": self.deferred,
        }


@dataclass
class ImportSummary:
    plans: Counts = field(default_factory=Counts)
    subscribers: Counts = field(default_factory=Counts)
    charges: Counts = field(default_factory=Counts)
    # account -> (charges deferred, the period of the invoice they wait for, or None if
    # the subscriber has ended and will never be billed again)
    deferred: dict[str, tuple[int, str | None]] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {
            "plans": self.plans.as_dict(),
            "subscribers": self.subscribers.as_dict(),
            "charges": self.charges.as_dict(),
            "deferred": [
                {"account": account, "charges": count, "next_invoice": to}
                for account, (count, to) in sorted(self.deferred.items())
            ],
        }


def import_data(session: Session, data: Any, settings: Settings | None = None) -> ImportSummary:
    """Upsert one data set (a parsed JSON file) in the caller's transaction."""
    return import_sources(session, [from_data(data)], settings)


def import_sources(
    session: Session, sources: Sequence[Source], settings: Settings | None = None
) -> ImportSummary:
    """Upsert the rows of every source: all plans first, then subscribers, then charges.

    `settings` (default: the process's) say which subscribers get e-invoices and who the
    seller is, for the e-invoice checks (`billing.einvoices`).
    """
    upsert = _Upsert(session, settings or get_settings())
    for source in sources:
        upsert.problems.extend(source.problems)
    for section in SECTIONS:
        rows = (row for source in sources for row in source.sections.get(section, []))
        getattr(upsert, section)(rows)
    upsert.invoices()
    if upsert.problems:
        named, others = _rows_named(upsert.problems, sources)
        raise ImportProblems(upsert.problems, named, others)
    return upsert.summary


def _rows_named(problems: list[str], sources: Sequence[Source]) -> tuple[int, int]:
    """How many distinct rows the problems name, and how many problems name no row: a
    row with four bad fields is one invalid row, however many lines it takes to say what
    is wrong with it. A row's problem starts with its `where` (`subscribers[3] (account
    'A-0001'): ...`)."""
    wheres = {row.where for source in sources for rows in source.sections.values() for row in rows}
    named: set[str] = set()
    others = 0
    for problem in problems:
        cut = problem.find(": ")
        while cut != -1 and problem[:cut] not in wheres:
            cut = problem.find(": ", cut + 1)
        if cut == -1:
            others += 1
        else:
            named.add(problem[:cut])
    return len(named), others


def _chunks(items: Iterable[Any], size: int = CHUNK) -> Iterable[list[Any]]:
    chunk: list[Any] = []
    for item in items:
        chunk.append(item)
        if len(chunk) >= size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def _canonical(number: Decimal) -> str:
    # 2, 2.0 and 2.00 are one quantity; the key must not depend on how it was written.
    return format(number.normalize(), "f") if number else "0"


_SUBSCRIBER_FIELDS = tuple(name for name in SubscriberRow.model_fields if name != "plan")
ROWS_NAMED = 3  # rows named in one problem about many; the rest are counted


@dataclass(frozen=True)
class _Terms:
    """What an account's invoice is priced by: its plan, currency and tax rate, and the
    row that set them (None: as the database has them)."""

    plan: str
    currency: str
    tax_rate: Decimal
    where: str | None


@dataclass
class _Invoice:
    """One account's invoice for one period, as far as import adds it up."""

    charges: int = 0
    amounts: Decimal = Decimal(0)  # the charges' lines, each rounded
    rows: list[str] = field(default_factory=list)  # this import's rows among them


class _Upsert:
    def __init__(self, session: Session, settings: Settings) -> None:
        self.session = session
        self.settings = settings
        self.seller = seller_from(settings)
        self.problems: list[str] = []
        self.summary = ImportSummary()
        self.db_plans: dict[str, Plan] = {plan.code: plan for plan in session.scalars(select(Plan))}
        self.plan_currency = {code: plan.currency for code, plan in self.db_plans.items()}
        self.plan_fee = {code: plan.monthly_fee for code, plan in self.db_plans.items()}
        # Problems of the seller's settings that e-invoicing subscribers meet: each
        # reported once, with the rows that need it fixed.
        self.seller_problems: dict[str, tuple[Problem, list[str]]] = {}
        self.plan_code = {plan.id: code for code, plan in self.db_plans.items()}
        self.plan_ids: dict[str, int] = {}
        self.file_plans: set[str] = set()
        self.file_accounts: set[str] = set()
        # The stored accounts the charges being keyed name, looked up a chunk at a time.
        # A set of every stored account raised an import's peak by 9.4 MB per 40,000
        # subscribers stored, however short its file.
        self.stored_accounts: set[str] = set()
        # Keys of rows already reported invalid: rows referring to them get no second error.
        self.rejected: dict[str, set[str]] = {section: set() for section in SECTIONS}
        self.charge_keys: dict[str, tuple[str, tuple[Any, ...]]] = {}  # this import's, by key
        self.occurrences: dict[tuple[str, tuple[Any, ...]], int] = defaultdict(int)
        # What the invoices of the accounts this import touches add up to (`invoices`).
        # Charges already stored are those up to this id: ids only grow.
        self.charges_before = session.scalar(select(func.max(Charge.id))) or 0
        self.terms: dict[str, _Terms] = {}
        self.invoices_of: dict[tuple[str, str], _Invoice] = defaultdict(_Invoice)

    def _rows(self, rows: Iterable[Row], section: str) -> Iterable[tuple[Row, Any]]:
        """The rows that pass their own field checks; the others become problems."""
        model = SECTIONS[section]
        for row in rows:
            try:
                yield row, model.model_validate(row.raw)
            except ValidationError as exc:
                self.problems.extend(describe_error(row.where, exc, row.raw))
                if section == "subscribers" and isinstance(row.raw, dict):
                    self.problems.extend(self._plan_problems(row, exc))
                key = row.raw.get(KEYS[section]) if isinstance(row.raw, dict) else None
                if isinstance(key, str):
                    self.rejected[section].add(key)

    @property
    def writing(self) -> bool:
        return not self.problems

    # --- plans (few: all in memory) -------------------------------------------------------

    def plans(self, rows: Iterable[Row]) -> None:
        counts = self.summary.plans
        for row, plan in self._rows(rows, "plans"):
            assert isinstance(plan, PlanRow)
            if plan.code in self.file_plans:
                self.problems.append(f"{row.where}: duplicate plan code, already in this file")
                continue
            self.file_plans.add(plan.code)
            existing = self.db_plans.get(plan.code)
            self.plan_fee[plan.code] = plan.monthly_fee
            if existing is None:
                counts.created += 1
                self.plan_currency[plan.code] = plan.currency
                if self.writing:
                    self.session.add(Plan(**plan.model_dump()))
                continue
            changes = {k: v for k, v in plan.model_dump().items() if getattr(existing, k) != v}
            if "currency" in changes and self._plan_in_use(existing):
                self.problems.append(
                    f"{row.where}: currency: {existing.currency} -> {plan.currency}, but subscribers "
                    f"are priced in {existing.currency} on this plan (make a new plan instead)"
                )
                continue
            self.plan_currency[plan.code] = plan.currency
            if not changes:
                counts.unchanged += 1
            else:
                counts.updated += 1
                if self.writing:
                    for key, value in changes.items():
                        setattr(existing, key, value)
        if self.writing:
            self.session.flush()
            self.plan_ids = dict(self.session.execute(select(Plan.code, Plan.id)).all())

    def _plan_in_use(self, plan: Plan) -> bool:
        return (
            self.session.scalar(select(Subscriber.id).where(Subscriber.plan_id == plan.id).limit(1))
            is not None
        )

    # --- subscribers -----------------------------------------------------------------------

    def subscribers(self, rows: Iterable[Row]) -> None:
        valid = (item for item in self._rows(rows, "subscribers") if self._check_subscriber(*item))
        for chunk in _chunks(valid):
            self._upsert_subscribers(chunk)
        for problem, rows_needing in self.seller_problems.values():
            setting = SELLER_SETTINGS.get(problem.rule, "the INVOICING_SELLER_* settings")
            more = f" and {len(rows_needing) - 1} more" if len(rows_needing) > 1 else ""
            self.problems.append(
                f"settings: {setting}: {problem}; the e-invoices of {rows_needing[0]}{more} need it"
            )

    def _plan_problems(self, row: Row, exc: ValidationError) -> list[str]:
        """For a subscriber row whose fields failed their checks: what its plan and
        currency would add, so the row's problems are all told in one pass."""
        failed = {str(error["loc"][0]) for error in exc.errors() if error["loc"]}
        plan, currency = row.raw.get("plan"), row.raw.get("currency")
        if "plan" in failed or not isinstance(plan, str):
            return []
        if plan not in self.plan_currency:
            return [] if plan in self.rejected["plans"] else [f"{row.where}: plan: unknown plan {plan!r}"]
        priced = self.plan_currency[plan]
        if "currency" not in failed and isinstance(currency, str) and currency != priced:
            return [f"{row.where}: currency: {currency} differs from plan {plan!r} priced in {priced}"]
        return []

    def _check_subscriber(self, row: Row, sub: SubscriberRow) -> bool:
        """Every problem of the row at once (a person fixes them in one go), not the first."""
        if sub.account in self.file_accounts:
            self.problems.append(f"{row.where}: duplicate account, already in this file")
            return False
        self.file_accounts.add(sub.account)
        if sub.plan in self.rejected["plans"]:
            self.rejected["subscribers"].add(sub.account)
            return False
        found: list[str] = []
        if sub.plan not in self.plan_currency:
            found.append(f"plan: unknown plan {sub.plan!r}")
        elif self.plan_currency[sub.plan] != sub.currency:
            priced = self.plan_currency[sub.plan]
            found.append(f"currency: {sub.currency} differs from plan {sub.plan!r} priced in {priced}")
        if found:
            self.rejected["subscribers"].add(sub.account)
        if (sub.channel or self.settings.default_channel) != "print" and not sub.email:
            found.append(f"channel: {sub.channel or self.settings.default_channel} needs an email address")
        if sub.einvoice and not sub.vat_id:
            found.append(f"einvoice: {sub.einvoice} needs the buyer's vat_id")
        if sub.tax_category in ("AE", "K") and not sub.vat_id:
            what = "AE (reverse charge)" if sub.tax_category == "AE" else "K (intra-community supply)"
            found.append(f"tax_category: {what} needs the buyer's vat_id")
        if found:
            self.problems.extend(f"{row.where}: {problem}" for problem in found)
            return False
        if sub.tax_category in ("AE", "K") and not self.settings.seller_vat_id:
            rule = "BR-AE-02" if sub.tax_category == "AE" else "BR-IC-02"
            self._seller_needs(
                Problem(rule, f"category {sub.tax_category} needs the seller VAT id (BT-31)", seller=True),
                row,
            )
        check = subscriber_problems(sub, self.plan_fee[sub.plan], self.seller, self.settings)
        self.problems.extend(f"{row.where}: {problem}" for problem in check.problems)
        for problem in check.seller:
            self._seller_needs(problem, row)
        if not check.problems:
            self.terms[sub.account] = _Terms(sub.plan, sub.currency, sub.tax_rate, row.where)
        return not check.problems

    def _seller_needs(self, problem: Problem, row: Row) -> None:
        rows = self.seller_problems.setdefault(str(problem), (problem, []))[1]
        if row.where not in rows[-1:]:
            rows.append(row.where)

    def _upsert_subscribers(self, chunk: list[tuple[Row, SubscriberRow]]) -> None:
        counts = self.summary.subscribers
        existing = {
            s.account: s
            for s in self.session.scalars(
                select(Subscriber).where(Subscriber.account.in_([sub.account for _, sub in chunk]))
            )
        }
        new = []
        for _, sub in chunk:
            values = {name: getattr(sub, name) for name in _SUBSCRIBER_FIELDS}
            values["channel"] = sub.channel or self.settings.default_channel
            current = existing.get(sub.account)
            if current is None:
                counts.created += 1
                new.append({**values, "plan_id": self.plan_ids.get(sub.plan)})
                continue
            changes = {k: v for k, v in values.items() if getattr(current, k) != v}
            if self.plan_code.get(current.plan_id) != sub.plan:
                changes["plan_id"] = self.plan_ids.get(sub.plan)
            if not changes:
                counts.unchanged += 1
                continue
            counts.updated += 1
            if self.writing:
                for key, value in changes.items():
                    setattr(current, key, value)
        if self.writing:
            if new:
                self.session.execute(insert(Subscriber), new)
            self.session.flush()
            self.session.expunge_all()  # keep memory flat over 100,000 subscribers

    # --- charges ---------------------------------------------------------------------------

    def charges(self, rows: Iterable[Row]) -> None:
        for chunk in _chunks(self._rows(rows, "charges")):
            named = {charge.account for _, charge in chunk} - self.file_accounts
            self.stored_accounts = (
                set(self.session.scalars(select(Subscriber.account).where(Subscriber.account.in_(named))))
                if named
                else set()
            )
            keyed = [
                (row, charge, key)
                for row, charge in chunk
                if (key := self._charge_key(row, charge)) is not None
            ]
            if keyed:
                self._insert_charges(keyed)

    def _charge_key(self, row: Row, charge: ChargeRow) -> str | None:
        if charge.account not in self.file_accounts and charge.account not in self.stored_accounts:
            if charge.account not in self.rejected["subscribers"]:
                self.problems.append(f"{row.where}: account: unknown account")
            return None
        if charge.account in self.rejected["subscribers"]:
            return None
        content = charge.content()
        if charge.id is not None:
            key = f"id:{charge.id}"
        else:
            self.occurrences[(row.source, content)] += 1
            text = "\x1f".join(
                (
                    charge.account,
                    charge.period,
                    charge.description,
                    _canonical(charge.quantity),
                    _canonical(charge.unit_price),
                    str(self.occurrences[(row.source, content)]),
                )
            )
            key = "auto:" + hashlib.sha256(text.encode()).hexdigest()
        seen = self.charge_keys.get(key)
        if seen is not None:
            if seen[1] != content:
                self.problems.append(
                    f"{row.where}: id: {charge.id!r} is used by {seen[0]} with other content"
                )
                return None
            self.summary.charges.unchanged += 1  # the same charge twice in this import
            return None
        self.charge_keys[key] = (row.where, content)
        return key

    def _insert_charges(self, chunk: list[tuple[Row, ChargeRow, str]]) -> None:
        counts = self.summary.charges
        stored = {
            key: (account, period, description, quantity, unit_price)
            for key, account, period, description, quantity, unit_price in self.session.execute(
                select(
                    Charge.source_key,
                    Subscriber.account,
                    Charge.period,
                    Charge.description,
                    Charge.quantity,
                    Charge.unit_price,
                )
                .join(Subscriber, Subscriber.id == Charge.subscriber_id)
                .where(Charge.source_key.in_([key for _, _, key in chunk]))
            )
        }
        fresh = []
        self._load_terms({charge.account for _, charge, _ in chunk})
        for row, charge, key in chunk:
            before = stored.get(key)
            if before is None:
                if self._fits_an_invoice(row, charge):
                    fresh.append((charge, key))
            elif before == charge.content():
                counts.unchanged += 1
            else:
                account, period, description, quantity, unit_price = before
                self.problems.append(
                    f"{row.where}: id: {charge.id!r} was imported before with other content "
                    f"({account}, {period}, {description!r}, {quantity} x {unit_price})"
                )
        counts.created += len(fresh)
        if not fresh or not self.writing:
            return
        ids = dict(
            self.session.execute(
                select(Subscriber.account, Subscriber.id).where(
                    Subscriber.account.in_({charge.account for charge, _ in fresh})
                )
            ).all()
        )
        self.session.execute(
            insert(Charge),
            [
                {
                    "subscriber_id": ids[charge.account],
                    "period": charge.period,
                    "description": charge.description,
                    "quantity": charge.quantity,
                    "unit_price": charge.unit_price,
                    "source_key": key,
                }
                for charge, key in fresh
            ],
        )
        self._note_deferred(fresh, ids)

    # --- what the invoices add up to -------------------------------------------------------

    def _load_terms(self, accounts: set[str]) -> None:
        """The terms of accounts only the database knows (charges for them, no row)."""
        missing = [account for account in accounts if account not in self.terms]
        if not missing:
            return
        for account, plan_id, currency, tax_rate in self.session.execute(
            select(Subscriber.account, Subscriber.plan_id, Subscriber.currency, Subscriber.tax_rate).where(
                Subscriber.account.in_(missing)
            )
        ):
            self.terms[account] = _Terms(self.plan_code.get(plan_id, ""), currency, tax_rate, None)

    def _fits_an_invoice(self, row: Row, charge: ChargeRow) -> bool:
        """Whether the charge's line is an amount a run holds; counted on its invoice if so."""
        terms = self.terms.get(charge.account)
        if terms is None:
            return True  # its subscriber was refused, and reported
        amount = round_money(charge.quantity * charge.unit_price, terms.currency)
        if abs(amount) > MAX_AMOUNT:
            self.problems.append(
                f"{row.where}: quantity x unit_price: {charge.quantity} x {charge.unit_price} = "
                f"{amount} {terms.currency}, more than the largest amount, {MAX_AMOUNT}"
            )
            return False
        invoice = self.invoices_of[(charge.account, charge.period)]
        invoice.charges += 1
        invoice.amounts += amount
        invoice.rows.append(row.where)
        return True

    def invoices(self) -> None:
        """Every touched account's invoice per period, with the charges stored before this
        import: more lines than INVOICING_MAX_LINES, or a subtotal, tax or total beyond
        the largest amount, is a problem naming the rows."""
        accounts = set(self.terms) | {account for account, _ in self.invoices_of}
        accounts -= self.rejected["subscribers"]
        self._fresh_statistics()
        self._add_stored_charges(accounts)
        for account, period in sorted(self.invoices_of):
            if account in accounts:
                self._check_invoice(account, period, self.invoices_of[(account, period)])
        charged = {account for account, _ in self.invoices_of}
        for account in sorted(accounts - charged):
            self._check_invoice(account, None, _Invoice())

    def _fresh_statistics(self) -> None:
        """PostgreSQL plans the look-up of the stored charges on the tables' statistics,
        which a large import leaves behind until autovacuum's next pass (never, where it is
        off). Planned on a table it had never analyzed, 5,000 accounts' charges were read
        through every unbilled charge of the database, each checked against the 5,000: 1.5
        s at 300,000 charges and growing with them, so that importing a million
        subscribers 20,000 at a time had done 220,000 in 36 minutes."""
        created = self.summary.subscribers.created + self.summary.charges.created
        if self.writing and created >= ANALYZE_AFTER:
            written = (cast(Table, model.__table__) for model in (Subscriber, Charge))
            analyze(self.session.connection(), *written)

    def _add_stored_charges(self, accounts: set[str]) -> None:
        unbilled = and_(Charge.invoice_id.is_(None), Charge.id <= self.charges_before)
        ordered = sorted(accounts)
        for start in range(0, len(ordered), CHUNK):
            chunk = ordered[start : start + CHUNK]
            self._load_terms(set(chunk))
            rows = self.session.execute(
                select(Subscriber.account, Charge.period, Charge.quantity, Charge.unit_price)
                .join(Subscriber, Subscriber.id == Charge.subscriber_id)
                .where(unbilled, Subscriber.account.in_(chunk))
            )
            for account, period, quantity, unit_price in rows:
                invoice = self.invoices_of[(account, period)]
                invoice.charges += 1
                invoice.amounts += round_money(quantity * unit_price, self.terms[account].currency)

    def _check_invoice(self, account: str, period: str | None, invoice: _Invoice) -> None:
        terms = self.terms.get(account)
        if terms is None or terms.plan not in self.plan_fee:
            return
        currency = terms.currency
        what = f"account {account}" + (f", period {period}" if period else "")
        lines = invoice.charges + 1  # and the plan fee's
        if lines > self.settings.max_lines:
            self.problems.append(
                f"{self._rows_of(invoice, terms)}: {what}: {plural(invoice.charges, 'charge')}, more than an "
                f"invoice holds ({self.settings.max_lines} lines with the plan fee, INVOICING_MAX_LINES)"
            )
            return
        subtotal = round_money(self.plan_fee[terms.plan], currency) + invoice.amounts
        tax = round_money(subtotal * terms.tax_rate / 100, currency)
        for name, amount in (("subtotal", subtotal), ("tax", tax), ("total", subtotal + tax)):
            if abs(amount) > MAX_AMOUNT:
                self.problems.append(
                    f"{self._rows_of(invoice, terms)}: {what}: the invoice's {name} would be "
                    f"{amount} {currency}, more than the largest amount, {MAX_AMOUNT}"
                )
                return

    @staticmethod
    def _rows_of(invoice: _Invoice, terms: _Terms) -> str:
        rows = invoice.rows or ([terms.where] if terms.where else [])
        if not rows:
            return "stored data"
        named = ", ".join(rows[:ROWS_NAMED])
        more = len(rows) - ROWS_NAMED
        return f"{named} and {more} more" if more > 0 else named

    def _note_deferred(self, fresh: list[tuple[ChargeRow, str]], ids: dict[str, int]) -> None:
        """Count the new charges whose period is already billed for their subscriber."""
        invoiced = defaultdict(set)
        for subscriber_id, period in self.session.execute(
            select(Invoice.subscriber_id, Invoice.period).where(
                Invoice.kind == DocumentKind.INVOICE, Invoice.subscriber_id.in_(set(ids.values()))
            )
        ):
            invoiced[subscriber_id].add(period)
        late: dict[str, int] = defaultdict(int)
        for charge, _ in fresh:
            if charge.period in invoiced[ids[charge.account]]:
                late[charge.account] += 1
        if not late:
            return
        self.summary.charges.deferred += sum(late.values())
        for account, count in late.items():
            subscriber_id = ids[account]
            last = max(invoiced[subscriber_id])
            self.summary.deferred[account] = (
                self.summary.deferred.get(account, (0, None))[0] + count,
                _next_invoice(self.session, subscriber_id, Period.parse(last)),
            )


def _next_invoice(session: Session, subscriber_id: int, last: Period) -> str | None:
    """The period of the subscriber's next invoice after `last`, None if it ended before."""
    active_to = session.scalar(select(Subscriber.active_to).where(Subscriber.id == subscriber_id))
    following = last.next()
    if active_to is not None and active_to < following.start:
        return None
    return str(following)
