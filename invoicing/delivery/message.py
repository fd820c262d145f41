"""One invoice's e-mail: From, To, Reply-To, a subject and body in the subscriber's
language, the stored PDF attached, and a Message-ID that is the same every time.

Written with the standard library's `email` package: its MIME classes (`email.mime`),
`email.header.Header` and `email.utils.formataddr` encode what is not ASCII as RFC 2047,
and the generator writes CRLF lines. Not `EmailMessage` under `policy.SMTP`: its header
objects are parsed and folded again on every access, and a message took 14.6 ms to
write that way against 2.8 ms with these classes (a 30 KB invoice on the project's
loaded 2-core machine), most of the 300 messages a second two workers are asked for.
The attachment's base64 lines are written by `base64.encodebytes` in one C call and put
in place of a stand-in, rather than by the generator's line-by-line Python loop.

These classes do not refuse a line break in a header value, so nothing reaches a
header unchecked: a name is cleaned as every output shows it (one line), an address must be one address (no
whitespace, no second address), and the subject is one line. Nothing a subscriber's
data holds can add a header (tests/test_delivery.py tries).
"""

from __future__ import annotations

import base64
import re
from dataclasses import dataclass
from email import policy
from email.header import Header
from email.mime.application import MIMEApplication
from email.mime.multipart import MIMEMultipart
from email.mime.text import MIMEText
from email.utils import formataddr, formatdate, parseaddr
from typing import Any

from babel import Locale, UnknownLocaleError

from invoicing.billing.period import Period
from invoicing.delivery.state import Claimed
from invoicing.delivery.texts import mail_words
from invoicing.errors import UsageError
from invoicing.pdf.format import Formatter
from invoicing.untrusted import clean

# One address, no display name, no whitespace or line break anywhere.
_ADDRESS = re.compile(r"[^@\s<>,;\"]+@[^@\s<>,;\"]+\.[^@\s<>,;\"]+")


class BadMessage(ValueError):
    """This invoice's e-mail cannot be written (a bad address): it fails with the reason."""


@dataclass(frozen=True)
class Sender:
    name: str
    address: str  # also the envelope sender
    reply_to: str

    @property
    def domain(self) -> str:
        return self.address.rpartition("@")[2]


def sender_of(mail_from: str, reply_to: str, seller_name: str, seller_email: str) -> Sender:
    """INVOICING_MAIL_FROM ("Name <addr>" or "addr"), else the seller's e-mail address;
    UsageError (one line) when there is none or it is not one address."""
    given = mail_from.strip() or seller_email.strip()
    if not given:
        raise UsageError(
            "INVOICING_MAIL_FROM is not set (nor INVOICING_SELLER_EMAIL): who sends the invoices?"
        )
    name, address = parseaddr(given)
    if not _ADDRESS.fullmatch(address or ""):
        raise UsageError(f"INVOICING_MAIL_FROM: not an e-mail address: {given!r}")
    if reply_to.strip() and not _ADDRESS.fullmatch(parseaddr(reply_to)[1] or ""):
        raise UsageError(f"INVOICING_MAIL_REPLY_TO: not an e-mail address: {reply_to!r}")
    return Sender(_one_line(name or seller_name), address, reply_to.strip())


def _one_line(text: str) -> str:
    """A name as the invoice prints it (`untrusted.clean`: one line, bidi and invisible
    format characters dropped, marks capped), so the greeting and the To header show
    the name of the attached PDF even for a row stored before the cleaning rule."""
    return clean(text)


def _address(display_name: str, addr_spec: str, what: str) -> str:
    if not _ADDRESS.fullmatch(addr_spec):
        raise BadMessage(f"{what}: not one e-mail address: {addr_spec[:80]!r}")
    return formataddr((_one_line(display_name), addr_spec), charset="utf-8")


def _text(value: str) -> Any:
    """A header's text on one line, RFC 2047 encoded when it is not ASCII (a `Header`:
    what these messages take for encoded text, though typeshed types the value str)."""
    value = _one_line(value)
    return value if value.isascii() else Header(value, "utf-8")


def _locale(identifier: str) -> Locale:
    try:
        return Locale.parse(identifier)
    except (UnknownLocaleError, ValueError, TypeError):
        return Locale.parse("en")


# Stands in for the PDF while the message is generated (see the module's docstring).
_MARK = b"\x00invoicing: the invoice's PDF\x00"
_ENCODED_MARK = base64.b64encode(_MARK) + b"\r\n"
_POLICY = policy.compat32.clone(linesep="\r\n")


def compose(item: Claimed, sender: Sender, pdf: bytes) -> bytes:
    """The message of a claimed invoice, as sent, its PDF (already checked against its
    sha256) attached."""
    words = mail_words(item.locale)
    fmt = Formatter(_locale(item.locale), item.currency)
    period = Period.parse(item.period)
    # As the invoice prints them (pdf/layout.py): the period's first and last day.
    values = {
        "number": item.number,
        "period": f"{fmt.date(period.start)} – {fmt.date(period.end)}",
        "total": fmt.money(item.total),
        "due_date": fmt.date(item.due_date),
        "name": _one_line(item.name),
    }
    message = MIMEMultipart()
    message["From"] = _address(sender.name, sender.address, "INVOICING_MAIL_FROM")
    message["To"] = _address(item.name, item.recipient, "recipient")
    if sender.reply_to:
        name, address = parseaddr(sender.reply_to)
        message["Reply-To"] = _address(name, address, "INVOICING_MAIL_REPLY_TO")
    message["Subject"] = _text(words.gettext("Invoice {number} for {period}").format(**values))
    message["Date"] = formatdate(usegmt=True)
    message["Message-ID"] = _text(item.message_id)
    greeting = words.gettext("Hello {name},").format(**values)
    text = words.gettext(
        "Please find attached your invoice {number} for {period}. The total of {total} is due on {due_date}."
    ).format(**values)
    closing = words.gettext("Kind regards,")
    message.attach(MIMEText(f"{greeting}\n\n{text}\n\n{closing}\n{sender.name}\n", "plain", "utf-8"))
    attachment = MIMEApplication(_MARK, "pdf")
    attachment.add_header("Content-Disposition", "attachment", filename=f"{item.number}.pdf")
    message.attach(attachment)
    data = message.as_bytes(policy=_POLICY)
    at = data.rfind(_ENCODED_MARK)
    body = base64.encodebytes(pdf).replace(b"\n", b"\r\n")
    return data[:at] + body + data[at + len(_ENCODED_MARK) :]
