"""SQLAlchemy 2.0 typed models. Money is Numeric/Decimal everywhere, never float."""

from __future__ import annotations

import enum
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    JSON,
    CheckConstraint,
    Date,
    DateTime,
    Enum,
    ForeignKey,
    Index,
    Integer,
    Numeric,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship
from sqlalchemy.types import TypeEngine


class Exact(TypeDecorator[Decimal]):
    """NUMERIC(p, s) where the database has it; a decimal string on SQLite.

    SQLite has no decimal type and SQLAlchemy would round-trip through float there,
    which is exactly what money must never do.
    """

    impl = Numeric
    cache_ok = True

    def __init__(self, precision: int, scale: int) -> None:
        super().__init__(precision=precision, scale=scale, asdecimal=True)
        self.precision = precision
        self.scale = scale

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        if dialect.name == "sqlite":
            return dialect.type_descriptor(String(self.precision + 2))
        return dialect.type_descriptor(Numeric(self.precision, self.scale, asdecimal=True))

    def process_bind_param(self, value: Any, dialect: Dialect) -> Any:
        if value is None:
            return None
        if not isinstance(value, Decimal):
            raise TypeError(f"money and quantities must be Decimal, got {type(value).__name__}")
        return str(value) if dialect.name == "sqlite" else value

    def process_result_value(self, value: Any, dialect: Dialect) -> Decimal | None:
        if value is None:
            return None
        return value if isinstance(value, Decimal) else Decimal(value)


# Column precisions; the importer checks values against these so nothing is
# silently rounded or rejected by the database half way through an import.
PRICE = Exact(18, 6)  # plan fees and unit prices: 12 integer digits, 6 decimals
QUANTITY = Exact(16, 4)  # 12 integer digits, 4 decimals
AMOUNT = Exact(18, 4)  # rounded invoice amounts (minor units <= 4 decimals)
RATE = Exact(6, 3)  # tax rate in percent, 0..100


class Base(DeclarativeBase):
    pass


class RunStatus(enum.StrEnum):
    RENDERING = "rendering"  # invoices issued and dispatched, header running
    MERGING = "merging"  # body started
    COMPLETED = "completed"
    COMPLETED_WITH_ERRORS = "completed_with_errors"
    FAILED = "failed"  # nothing could be merged


class InvoiceStatus(enum.StrEnum):
    PENDING = "pending"  # issued (number, totals) but no PDF yet
    RENDERED = "rendered"
    FAILED = "failed"


def _enum(cls: type[enum.StrEnum], name: str) -> Enum:
    return Enum(
        cls,
        name=name,
        native_enum=False,
        length=32,
        values_callable=lambda members: [m.value for m in members],
        validate_strings=True,
    )


class Plan(Base):
    __tablename__ = "plans"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    monthly_fee: Mapped[Decimal] = mapped_column(PRICE)
    currency: Mapped[str] = mapped_column(String(3))


class Subscriber(Base):
    __tablename__ = "subscribers"

    id: Mapped[int] = mapped_column(primary_key=True)
    account: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    email: Mapped[str] = mapped_column(String(254))
    address: Mapped[list[str]] = mapped_column(JSON)
    country: Mapped[str] = mapped_column(String(2))
    locale: Mapped[str] = mapped_column(String(32))
    currency: Mapped[str] = mapped_column(String(3))
    tax_rate: Mapped[Decimal] = mapped_column(RATE)
    plan_id: Mapped[int] = mapped_column(ForeignKey("plans.id"))
    active_from: Mapped[date] = mapped_column(Date)
    active_to: Mapped[date | None] = mapped_column(Date)

    plan: Mapped[Plan] = relationship()

    __table_args__ = (
        CheckConstraint("active_to IS NULL OR active_to >= active_from", name="active_range"),
        Index("ix_subscribers_active", "active_from", "active_to"),
    )


class Charge(Base):
    """A usage charge for one subscriber in one billing period."""

    __tablename__ = "charges"

    id: Mapped[int] = mapped_column(primary_key=True)
    subscriber_id: Mapped[int] = mapped_column(ForeignKey("subscribers.id"))
    period: Mapped[str] = mapped_column(String(7))  # YYYY-MM
    description: Mapped[str] = mapped_column(String(200))
    quantity: Mapped[Decimal] = mapped_column(QUANTITY)
    unit_price: Mapped[Decimal] = mapped_column(PRICE)

    __table_args__ = (Index("ix_charges_period_subscriber", "period", "subscriber_id"),)


class BillingRun(Base):
    __tablename__ = "billing_runs"

    id: Mapped[int] = mapped_column(primary_key=True)
    # One run per period: the constraint that makes a second `run` resume, never re-bill.
    period: Mapped[str] = mapped_column(String(7), unique=True)
    status: Mapped[RunStatus] = mapped_column(_enum(RunStatus, "run_status"))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    dispatched_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    invoice_count: Mapped[int] = mapped_column(Integer, default=0)
    failed_count: Mapped[int] = mapped_column(Integer, default=0)
    pages: Mapped[int | None] = mapped_column(Integer)
    output_path: Mapped[str | None] = mapped_column(String(1024))
    sha256: Mapped[str | None] = mapped_column(String(64))
    # "embedded:<host>:<pid>" or "celery:<host>": an embedded run dies with its process.
    dispatched_by: Mapped[str | None] = mapped_column(String(128))
    error: Mapped[str | None] = mapped_column(Text)

    invoices: Mapped[list[Invoice]] = relationship(back_populates="run")


class Invoice(Base):
    __tablename__ = "invoices"

    id: Mapped[int] = mapped_column(primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("billing_runs.id"))
    subscriber_id: Mapped[int] = mapped_column(ForeignKey("subscribers.id"))
    period: Mapped[str] = mapped_column(String(7))
    # Position in the run's gapless series; `number` is its printed form.
    seq: Mapped[int] = mapped_column(Integer)
    number: Mapped[str] = mapped_column(String(32), unique=True)
    status: Mapped[InvoiceStatus] = mapped_column(_enum(InvoiceStatus, "invoice_status"))
    issue_date: Mapped[date] = mapped_column(Date)
    due_date: Mapped[date] = mapped_column(Date)
    currency: Mapped[str] = mapped_column(String(3))
    subtotal: Mapped[Decimal] = mapped_column(AMOUNT)
    tax_rate: Mapped[Decimal] = mapped_column(RATE)
    tax: Mapped[Decimal] = mapped_column(AMOUNT)
    total: Mapped[Decimal] = mapped_column(AMOUNT)
    pdf_path: Mapped[str | None] = mapped_column(String(1024))
    sha256: Mapped[str | None] = mapped_column(String(64))
    pages: Mapped[int | None] = mapped_column(Integer)
    error: Mapped[str | None] = mapped_column(Text)
    rendered_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    run: Mapped[BillingRun] = relationship(back_populates="invoices")
    subscriber: Mapped[Subscriber] = relationship()
    lines: Mapped[list[InvoiceLineRow]] = relationship(
        order_by="InvoiceLineRow.position", cascade="all, delete-orphan"
    )

    __table_args__ = (
        # Nobody is billed twice for a period, whatever races the application loses.
        UniqueConstraint("subscriber_id", "period", name="uq_invoice_subscriber_period"),
        UniqueConstraint("run_id", "seq", name="uq_invoice_run_seq"),
        Index("ix_invoices_run_status", "run_id", "status"),
    )


class InvoiceLineRow(Base):
    __tablename__ = "invoice_lines"

    id: Mapped[int] = mapped_column(primary_key=True)
    invoice_id: Mapped[int] = mapped_column(ForeignKey("invoices.id", ondelete="CASCADE"))
    position: Mapped[int] = mapped_column(Integer)
    description: Mapped[str] = mapped_column(String(200))
    quantity: Mapped[Decimal] = mapped_column(QUANTITY)
    unit_price: Mapped[Decimal] = mapped_column(PRICE)
    amount: Mapped[Decimal] = mapped_column(AMOUNT)

    __table_args__ = (UniqueConstraint("invoice_id", "position", name="uq_line_position"),)
