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
    text,
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
    VOID = "void"  # cancelled before anything left the system (`invoicing void`)


class RunKind(enum.StrEnum):
    BILLING = "billing"  # the period's nightly run: every billable subscriber
    SUPPLEMENT = "supplement"  # later: subscribers billable in the period who had no invoice yet
    CREDIT = "credit"  # one credit note, rendered and merged through the same chord


class DocumentKind(enum.StrEnum):
    INVOICE = "invoice"
    CREDIT_NOTE = "credit_note"


class InvoiceStatus(enum.StrEnum):
    PENDING = "pending"  # issued (number, totals) but no PDF yet
    RENDERED = "rendered"
    FAILED = "failed"


class Channel(enum.StrEnum):
    """How a subscriber gets his invoice: in the run's merged print file, by e-mail, or both."""

    PRINT = "print"
    EMAIL = "email"
    BOTH = "both"


# The channels whose invoices go into the run's merged print file.
PRINTED = (Channel.PRINT.value, Channel.BOTH.value)
MAILED = (Channel.EMAIL.value, Channel.BOTH.value)


class DeliveryState(enum.StrEnum):
    """Where an invoice's e-mail stands (one closed vocabulary, as django-anymail's)."""

    PENDING = "pending"  # to be sent
    SENDING = "sending"  # committed before SMTP DATA: it may have reached the server
    SENT = "sent"  # the server answered 250 (its reply kept)
    DEFERRED = "deferred"  # 4xx or a lost connection: tried again after a backoff
    FAILED = "failed"  # 5xx, or deferred too often: the server's reply kept
    BOUNCED = "bounced"  # a delivery status notification came back (status, diagnostic)


# The rows of the one-invoice-per-subscriber-and-period rule (migration 0006 writes it too).
LIVE_INVOICE = "kind = 'invoice' AND voided_at IS NULL"
# The charges no invoice billed yet, and the credit notes (migration 0010 writes both too).
UNBILLED = "invoice_id IS NULL"
CREDITING = "credited_invoice_id IS NOT NULL"


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
    # For business customers and e-invoices (EN 16931): all optional.
    company: Mapped[str | None] = mapped_column(String(200))
    vat_id: Mapped[str | None] = mapped_column(String(32))
    buyer_reference: Mapped[str | None] = mapped_column(String(200))
    einvoice: Mapped[str | None] = mapped_column(String(16))
    tax_category: Mapped[str | None] = mapped_column(String(2))
    exemption_reason: Mapped[str | None] = mapped_column(String(300))  # BT-120; E needs one
    channel: Mapped[str] = mapped_column(String(8), default=Channel.PRINT.value, server_default="print")

    plan: Mapped[Plan] = relationship()

    __table_args__ = (
        CheckConstraint("active_to IS NULL OR active_to >= active_from", name="active_range"),
        Index("ix_subscribers_active", "active_from", "active_to"),
    )


class Charge(Base):
    """A usage charge for one subscriber in one billing period.

    `invoice_id` is the invoice that billed it, set when that invoice is issued: a
    charge is billed once, and one that arrived after its period was billed waits,
    unbilled, for the subscriber's next invoice.
    """

    __tablename__ = "charges"

    id: Mapped[int] = mapped_column(primary_key=True)
    subscriber_id: Mapped[int] = mapped_column(ForeignKey("subscribers.id"))
    period: Mapped[str] = mapped_column(String(7))  # YYYY-MM
    description: Mapped[str] = mapped_column(String(200))
    quantity: Mapped[Decimal] = mapped_column(QUANTITY)
    unit_price: Mapped[Decimal] = mapped_column(PRICE)
    # "id:<the usage feed's event id>", or "auto:<digest of its content and occurrence in
    # the file>": what makes importing the same file twice a no-op.
    source_key: Mapped[str] = mapped_column(String(200))
    invoice_id: Mapped[int | None] = mapped_column(ForeignKey("invoices.id"))

    # Billing a charge writes a new version of its row into every index but a partial one
    # whose condition the new row fails: a subscriber's unbilled charges are found in
    # ix_charges_unbilled, which holds only those (migration 0010).
    __table_args__ = (
        Index(
            "ix_charges_unbilled",
            "subscriber_id",
            sqlite_where=text(UNBILLED),
            postgresql_where=text(UNBILLED),
        ),
        # A run's late charges (`status`) and the charges a void gives back, by invoice.
        Index("ix_charges_invoice", "invoice_id"),
        UniqueConstraint("source_key", name="uq_charges_source_key"),
    )


class BillingRun(Base):
    __tablename__ = "billing_runs"

    id: Mapped[int] = mapped_column(primary_key=True)
    period: Mapped[str] = mapped_column(String(7))
    # 1 is the period's billing run; supplements and credit runs follow. Unique with the
    # period: two commands starting the same run at once collide here, and the loser
    # follows the winner's run instead of billing anyone twice.
    seq: Mapped[int] = mapped_column(Integer, default=1)
    kind: Mapped[RunKind] = mapped_column(_enum(RunKind, "run_kind"), default=RunKind.BILLING)
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
    # Set by `invoicing void`, with the status void: when, and why.
    voided_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    void_reason: Mapped[str | None] = mapped_column(Text)
    # Who merges the run now (run/lease.py): the holder's token, and when its lease lapses
    # unless renewed. Null: nobody.
    merge_lease: Mapped[str | None] = mapped_column(String(64))
    merge_lease_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    invoices: Mapped[list[Invoice]] = relationship(back_populates="run")
    # The files of the merged output, in order: one, or with INVOICING_VOLUME_MAX_PAGES
    # its volumes; `output_path`, `sha256` are the first's, `pages` is all of them.
    volumes: Mapped[list[RunVolume]] = relationship(
        order_by="RunVolume.number", cascade="all, delete-orphan", passive_deletes=True
    )

    __table_args__ = (UniqueConstraint("period", "seq", name="uq_run_period_seq"),)


class RunVolume(Base):
    """One file of a run's merged output (print-ready volumes: run/printing.py)."""

    __tablename__ = "run_volumes"

    id: Mapped[int] = mapped_column(primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("billing_runs.id", ondelete="CASCADE"))
    number: Mapped[int] = mapped_column(Integer)  # 1, 2, ...
    output_path: Mapped[str] = mapped_column(String(1024))
    sha256: Mapped[str] = mapped_column(String(64))
    pages: Mapped[int] = mapped_column(Integer)  # duplex padding included
    invoices: Mapped[int] = mapped_column(Integer)

    __table_args__ = (UniqueConstraint("run_id", "number", name="uq_run_volume_number"),)


class Invoice(Base):
    """An invoice or a credit note: issued once, then never changed.

    Number, amounts and the bill-to snapshot (`bill_*`, currency, tax rate) are frozen
    when it is issued; once it has a PDF, those bytes never change. A correction is a
    credit note: a row of kind credit_note referring to the invoice it credits.
    """

    __tablename__ = "invoices"

    id: Mapped[int] = mapped_column(primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("billing_runs.id"))
    subscriber_id: Mapped[int] = mapped_column(ForeignKey("subscribers.id"))
    period: Mapped[str] = mapped_column(String(7))
    kind: Mapped[DocumentKind] = mapped_column(
        _enum(DocumentKind, "document_kind"), default=DocumentKind.INVOICE
    )
    # Position in the period's gapless series of its kind; `number` is its printed form.
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
    # Bill-to, copied from the subscriber when issued (a failed invoice that never had a
    # PDF takes corrected data on retry: it was never sent).
    bill_name: Mapped[str] = mapped_column(String(200))
    bill_address: Mapped[list[str]] = mapped_column(JSON)
    bill_country: Mapped[str] = mapped_column(String(2))
    bill_locale: Mapped[str] = mapped_column(String(32))
    bill_company: Mapped[str | None] = mapped_column(String(200))
    bill_vat_id: Mapped[str | None] = mapped_column(String(32))
    # What the e-invoice is made from, frozen with the rest: its format (None: a plain
    # PDF; the subscriber's, else INVOICING_EINVOICE when there is a VAT id), the buyer
    # reference (BT-10), the e-mail as the buyer's electronic address (BT-49), the VAT
    # category (None: S when the rate is above 0) and the exemption reason as printed
    # (the subscriber's, else the standard wording of AE, K and O).
    bill_einvoice: Mapped[str | None] = mapped_column(String(16))
    bill_buyer_reference: Mapped[str | None] = mapped_column(String(200))
    bill_email: Mapped[str | None] = mapped_column(String(254))
    bill_tax_category: Mapped[str | None] = mapped_column(String(2))
    bill_exemption_reason: Mapped[str | None] = mapped_column(String(300))
    # print, email or both (Channel), frozen with the rest: which file or mail carries it.
    bill_channel: Mapped[str] = mapped_column(String(8), default=Channel.PRINT.value, server_default="print")
    # Credit notes: the invoice credited, and why.
    credited_invoice_id: Mapped[int | None] = mapped_column(ForeignKey("invoices.id"))
    reason: Mapped[str | None] = mapped_column(Text)
    pdf_path: Mapped[str | None] = mapped_column(String(1024))
    sha256: Mapped[str | None] = mapped_column(String(64))
    pages: Mapped[int | None] = mapped_column(Integer)
    error: Mapped[str | None] = mapped_column(Text)
    rendered_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # When a copy of it first left the system, and how ("export", "merge"): from then on
    # someone may hold it, and only a credit note corrects it; before, its run may be voided.
    released_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    released_by: Mapped[str | None] = mapped_column(String(32))
    # A voided invoice keeps its number (a used number, documented with the reason) and
    # no longer bills its subscriber for the period: a new run gives him a new number.
    voided_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    void_reason: Mapped[str | None] = mapped_column(Text)

    run: Mapped[BillingRun] = relationship(back_populates="invoices")
    subscriber: Mapped[Subscriber] = relationship()
    credited_invoice: Mapped[Invoice | None] = relationship(remote_side=[id])
    lines: Mapped[list[InvoiceLineRow]] = relationship(
        order_by="InvoiceLineRow.position", cascade="all, delete-orphan"
    )

    __table_args__ = (
        # Nobody is billed twice for a period, whatever races the application loses
        # (credit notes are many per invoice, so the rule is for invoices only; a void
        # invoice bills nobody, so it is left out).
        Index(
            "uq_invoice_subscriber_period",
            "subscriber_id",
            "period",
            unique=True,
            sqlite_where=text(LIVE_INVOICE),
            postgresql_where=text(LIVE_INVOICE),
        ),
        # Gapless series: one number per position, per period and kind.
        UniqueConstraint("period", "kind", "seq", name="uq_invoice_series_seq"),
        Index("ix_invoices_run_status", "run_id", "status"),
        # A run's invoices in number order, a chunk at a time (the merge; migration 0012).
        Index("ix_invoices_run_seq", "run_id", "seq"),
        # Only credit notes have one: an invoice issued adds nothing to it.
        Index(
            "ix_invoices_credited",
            "credited_invoice_id",
            sqlite_where=text(CREDITING),
            postgresql_where=text(CREDITING),
        ),
    )


class InvoiceLineRow(Base):
    __tablename__ = "invoice_lines"

    id: Mapped[int] = mapped_column(primary_key=True)
    invoice_id: Mapped[int] = mapped_column(ForeignKey("invoices.id", ondelete="CASCADE"))
    position: Mapped[int] = mapped_column(Integer)
    # A charge's description (200) plus the period a late charge is for: " (Okt. 2026)".
    description: Mapped[str] = mapped_column(String(240))
    quantity: Mapped[Decimal] = mapped_column(QUANTITY)
    unit_price: Mapped[Decimal] = mapped_column(PRICE)
    amount: Mapped[Decimal] = mapped_column(AMOUNT)

    __table_args__ = (UniqueConstraint("invoice_id", "position", name="uq_line_position"),)


class RunSkip(Base):
    """A subscriber a run could not bill as the data stood, and why (an amount beyond what
    an invoice holds, more lines than INVOICING_MAX_LINES). No invoice and no number was
    given; once the data is corrected the period's next run (a supplement) bills him."""

    __tablename__ = "run_skips"

    id: Mapped[int] = mapped_column(primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("billing_runs.id", ondelete="CASCADE"))
    subscriber_id: Mapped[int] = mapped_column(ForeignKey("subscribers.id"))
    account: Mapped[str] = mapped_column(String(64))
    reason: Mapped[str] = mapped_column(Text)

    __table_args__ = (UniqueConstraint("run_id", "subscriber_id", name="uq_run_skip_subscriber"),)


class WebhookStatus(enum.StrEnum):
    PENDING = "pending"  # not answered with a 2xx yet; tried again at next_attempt_at
    DELIVERED = "delivered"  # a 2xx answer
    FAILED = "failed"  # no 2xx answer for INVOICING_WEBHOOK_RETRY_FOR_S: given up


class WebhookMessage(Base):
    """An event for one webhook URL: the transactional outbox of delivery/webhooks.py.

    Written in the transaction of what it tells (a run finished, a credit note issued),
    so an event exists exactly when that happened, and is delivered after the commit,
    at least once. The body is kept as sent: every retry carries the same bytes and the
    same `webhook_id`, freshly timestamped and signed.
    """

    __tablename__ = "webhook_outbox"

    id: Mapped[int] = mapped_column(primary_key=True)
    webhook_id: Mapped[str] = mapped_column(String(64))  # one per event, the same for every URL
    url: Mapped[str] = mapped_column(String(2048))
    type: Mapped[str] = mapped_column(String(64))
    body: Mapped[str] = mapped_column(Text)
    status: Mapped[WebhookStatus] = mapped_column(_enum(WebhookStatus, "webhook_status"))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    # When it is due; while an attempt is under way, when that attempt counts as lost.
    next_attempt_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    delivered_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    last_error: Mapped[str | None] = mapped_column(Text)

    __table_args__ = (
        UniqueConstraint("webhook_id", "url", name="uq_webhook_message_url"),
        Index("ix_webhook_outbox_due", "status", "next_attempt_at"),
    )


class TokenScope(enum.StrEnum):
    READ = "read"  # every GET, /metrics, the dashboard's pages
    WRITE = "write"  # and what changes something: runs, retries, credit notes, imports


class ApiToken(Base):
    """A bearer token of the HTTP API (`invoicing token create`). Only the sha256 of the
    token is kept: the token itself is shown once, when it is made."""

    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    scope: Mapped[TokenScope] = mapped_column(_enum(TokenScope, "token_scope"))
    token_sha256: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    # Set by `invoicing token revoke`: from then on the token is refused (401).
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class IdempotencyRecord(Base):
    """A request sent with an `Idempotency-Key` and the answer it got, per token: the same
    key and body again get the same answer, and start nothing (web/idempotency.py)."""

    __tablename__ = "idempotency_records"

    id: Mapped[int] = mapped_column(primary_key=True)
    token_id: Mapped[int] = mapped_column(ForeignKey("api_tokens.id", ondelete="CASCADE"))
    key: Mapped[str] = mapped_column(String(255))
    # sha256 of the method, the path and the body: the same key with another request is refused.
    fingerprint: Mapped[str] = mapped_column(String(64))
    # None while the first request is being answered (a second one then gets 409).
    status_code: Mapped[int | None] = mapped_column(Integer)
    response: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))

    # Two requests with one key at the same instant: the second insert fails here.
    __table_args__ = (UniqueConstraint("token_id", "key", name="uq_idempotency_token_key"),)


class Delivery(Base):
    """An invoice's e-mail: its state (DeliveryState) and what the server or the bounce
    said, as received. One row per invoice sent by e-mail; the invoice itself, and its
    bytes, never change for it."""

    __tablename__ = "deliveries"

    id: Mapped[int] = mapped_column(primary_key=True)
    invoice_id: Mapped[int] = mapped_column(ForeignKey("invoices.id", ondelete="CASCADE"), unique=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("billing_runs.id", ondelete="CASCADE"))
    state: Mapped[DeliveryState] = mapped_column(_enum(DeliveryState, "delivery_state"))
    recipient: Mapped[str] = mapped_column(String(254))
    message_id: Mapped[str] = mapped_column(String(300))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    # The task that set it sending: that task, redelivered after its worker died, sends
    # it again (the one window where a subscriber may receive it twice).
    claimed_by: Mapped[str | None] = mapped_column(String(64))
    # The SMTP server's reply ("250 2.0.0 Ok: queued as ..."), or the reason it was not sent.
    reply: Mapped[str | None] = mapped_column(Text)
    # A bounce's RFC 3464 Status ("5.1.1") and Diagnostic-Code, as received.
    bounce_status: Mapped[str | None] = mapped_column(String(32))
    bounce_diagnostic: Mapped[str | None] = mapped_column(Text)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    sent_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    next_attempt_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    __table_args__ = (
        Index("ix_deliveries_run_state", "run_id", "state"),
        Index("ix_deliveries_message_id", "message_id"),
    )
