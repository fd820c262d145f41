"""Bounces: RFC 3464 delivery status notifications back to the invoices they are about.

A DSN is a multipart/report (report-type=delivery-status) whose message/delivery-status
part holds one block of per-message fields and a block per recipient (Action, Status,
Diagnostic-Code). It is matched to its invoice by the original message's Message-ID
(a message/rfc822 or text/rfc822-headers part, as most servers return), else by the
Original-Envelope-Id (the invoice's number, given as ENVID to servers that offer DSN):
a DSN without the original headers still finds its invoice that way.

Each file is one of: matched (the invoice is marked bounced with the status and the
diagnostic code), unmatched (a failure about no invoice of ours: nothing changes),
ignored (not a DSN, or not a failure: `Action: delayed`), or refused (damaged or cut
short: nothing changes). Read with the standard library's `email` package; the parsing
is lenient, so a truncated file is recognised by what it lacks.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from email import policy
from email.message import EmailMessage, Message
from email.parser import BytesParser, HeaderParser
from pathlib import Path
from typing import Any

from sqlalchemy import select

from invoicing.db import session_scope
from invoicing.delivery import state
from invoicing.errors import UsageError
from invoicing.models import Delivery, Invoice
from invoicing.untrusted import clean

MAX_FILE = 10 * 1024 * 1024  # a DSN with its original message; larger files are not read


@dataclass(frozen=True)
class Notice:
    """What a DSN says about the first failed recipient."""

    message_id: str | None
    envelope_id: str | None
    recipient: str
    status: str
    diagnostic: str


@dataclass
class BounceReport:
    matched: list[dict[str, str]] = field(default_factory=list)
    unmatched: list[dict[str, str]] = field(default_factory=list)
    ignored: list[dict[str, str]] = field(default_factory=list)
    refused: list[dict[str, str]] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "matched": self.matched,
            "unmatched": self.unmatched,
            "ignored": self.ignored,
            "refused": self.refused,
        }


class NotADsn(Exception):
    """Mail that is no delivery status notification, or no failure: ignored."""


class Damaged(Exception):
    """A DSN cut short or malformed: refused."""


def files_of(paths: Iterable[Path]) -> list[Path]:
    """The files named, and those in named folders (a maildir's cur/ and new/, or any
    folder of .eml files), in name order; UsageError for a path that does not exist."""
    found: list[Path] = []
    for path in paths:
        if path.is_file():
            found.append(path)
        elif path.is_dir():
            folders = [path / "cur", path / "new"] if (path / "cur").is_dir() else [path]
            found.extend(
                sorted(p for folder in folders if folder.is_dir() for p in folder.iterdir() if p.is_file())
            )
        else:
            raise UsageError(f"{path}: no such file or folder; nothing was read")
    return found


def _header_value(block: Message, name: str) -> str:
    value = block.get(name)
    # Outside text (a remote server's diagnostic): cleaned as every output shows it.
    return clean(value) if value is not None else ""


def _status_blocks(report: Message) -> list[Message]:
    for part in report.walk():
        if part.get_content_type() == "message/delivery-status":
            payload = part.get_payload()
            if isinstance(payload, list) and payload:
                return [block for block in payload if isinstance(block, Message)]
            text = payload if isinstance(payload, str) else ""
            return [
                HeaderParser().parsestr(chunk + "\n") for chunk in text.replace("\r\n", "\n").split("\n\n")
            ]
    raise Damaged("no message/delivery-status part (cut short?)")


def _original_message_id(report: Message) -> str | None:
    for part in report.walk():
        kind = part.get_content_type()
        if kind == "message/rfc822":
            payload = part.get_payload()
            inner = payload[0] if isinstance(payload, list) and payload else None
            if isinstance(inner, Message) and inner.get("Message-ID"):
                return str(inner["Message-ID"]).strip()
        elif kind == "text/rfc822-headers":
            raw = part.get_payload(decode=True)
            text = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else str(part.get_payload())
            headers = HeaderParser().parsestr(text)
            if headers.get("Message-ID"):
                return str(headers["Message-ID"]).strip()
    return None


def read_notice(data: bytes) -> Notice:
    """The failure a DSN reports; NotADsn or Damaged otherwise."""
    report: EmailMessage = BytesParser(policy=policy.default).parsebytes(data)
    if report.get_content_type() != "multipart/report":
        raise NotADsn(f"not a delivery status notification ({report.get_content_type()})")
    if str(report.get_param("report-type") or "").lower() != "delivery-status":
        raise NotADsn("a report, but not of delivery status")
    blocks = _status_blocks(report)
    recipients = [block for block in blocks[1:] if block.get("Action") or block.get("Status")]
    if not blocks or not recipients:
        raise Damaged("no recipient's status in the delivery-status part (cut short?)")
    failed = [block for block in recipients if _header_value(block, "Action").lower() == "failed"]
    if not failed:
        actions = ", ".join(sorted({_header_value(b, "Action").lower() or "none" for b in recipients}))
        raise NotADsn(f"not a failure (action {actions})")
    block = failed[0]
    status = _header_value(block, "Status")
    if not status:
        raise Damaged("a failed recipient without a Status (cut short?)")
    recipient = _header_value(block, "Final-Recipient") or _header_value(block, "Original-Recipient")
    return Notice(
        message_id=_original_message_id(report),
        envelope_id=_header_value(blocks[0], "Original-Envelope-Id") or None,
        recipient=recipient.partition(";")[2].strip() or recipient,
        status=status,
        diagnostic=_header_value(block, "Diagnostic-Code"),
    )


def _invoice_of(session: Any, notice: Notice) -> tuple[int, str] | None:
    query = select(Delivery.invoice_id, Invoice.number).join(Invoice, Invoice.id == Delivery.invoice_id)
    if notice.message_id:
        row = session.execute(query.where(Delivery.message_id == notice.message_id)).first()
        if row is not None:
            return row.invoice_id, row.number
    if notice.envelope_id:
        row = session.execute(query.where(Invoice.number == notice.envelope_id)).first()
        if row is not None:
            return row.invoice_id, row.number
    return None


def _read(path: Path) -> bytes:
    with open(path, "rb") as handle:
        data = handle.read(MAX_FILE + 1)
    if len(data) > MAX_FILE:
        raise Damaged(f"larger than {MAX_FILE // (1024 * 1024)} MB")
    return data


def record_bounces(paths: Iterable[Path]) -> BounceReport:
    """Read every DSN file of `paths` and mark the invoices they match bounced."""
    report = BounceReport()
    for path in files_of(paths):
        name = str(path)
        try:
            notice = read_notice(_read(path))
        except NotADsn as exc:
            report.ignored.append({"file": name, "reason": str(exc)})
            continue
        except (Damaged, OSError) as exc:
            reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
            report.refused.append({"file": name, "reason": reason})
            continue
        with session_scope() as session:
            found = _invoice_of(session, notice)
            if found is None:
                what = notice.message_id or notice.envelope_id or "no Message-ID nor envelope id"
                report.unmatched.append({"file": name, "reason": f"no invoice sent as {what}"})
                continue
            invoice_id, number = found
            state.mark_bounced(session, invoice_id, notice.status, notice.diagnostic)
        report.matched.append(
            {
                "file": name,
                "number": number,
                "recipient": notice.recipient,
                "status": notice.status,
                "diagnostic": notice.diagnostic,
            }
        )
    return report


def iter_files(report: BounceReport) -> Iterator[tuple[str, dict[str, str]]]:
    """Every file of the report with what became of it, for printing."""
    for kind in ("matched", "unmatched", "ignored", "refused"):
        for item in getattr(report, kind):
            yield kind, item
