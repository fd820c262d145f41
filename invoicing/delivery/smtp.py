"""The SMTP server of INVOICING_SMTP_URL: reading the URL, opening a session, and sending
one message while keeping the server's reply (smtplib's `send_message` drops it).

smtp://user:pass@host:587 uses STARTTLS when the server offers it (`?starttls=required`
refuses a server that does not); smtps://user:pass@host:465 is TLS from the first byte.
Either way the login comes after TLS, and the server's certificate is verified against
the system's CAs (`ssl.create_default_context`; SSL_CERT_FILE names another bundle, for
a private CA). A refused certificate or a missing STARTTLS is a setting to fix, not an
outage: SmtpTlsRefused, exit 2 at `deliver`'s preflight, before anything is marked.
The password is never shown: every message goes through `config.redact` and `scrub`.
"""

from __future__ import annotations

import smtplib
import ssl
from dataclasses import dataclass
from urllib.parse import parse_qs, unquote, urlsplit

from invoicing.config import ConfigError, redact, scrub
from invoicing.errors import InvoicingError, first_line

DEFAULT_PORTS = {"smtp": 587, "smtps": 465}
SESSION_TIMEOUT_S = 60.0  # one command's answer; a DATA of a few MB takes well under it


class SmtpUnreachable(InvoicingError):
    """The SMTP server cannot be reached or refused the session (exit 1); one line."""


class SmtpLoginRefused(ConfigError):
    """The SMTP server refused the login of INVOICING_SMTP_URL (exit 2); one line."""


class SmtpTlsRefused(ConfigError):
    """No TLS as INVOICING_SMTP_URL asks: a certificate this machine does not trust, or
    no STARTTLS where the URL requires it (exit 2); one line."""


@dataclass(frozen=True)
class Server:
    url: str
    tls: bool  # smtps: TLS from the first byte
    starttls_required: bool
    host: str
    port: int
    user: str | None
    password: str | None

    @property
    def shown(self) -> str:
        return redact(self.url)


def server_of(url: str) -> Server:
    """The server of an SMTP URL; ConfigError (one line, no password) if it is not one."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise ConfigError(
            f"INVOICING_SMTP_URL {redact(url)} cannot be read (smtp://user:pass@host:587; a password "
            "percent-encodes / ? # @ as %2F %3F %23 %40)"
        ) from None
    if parts.scheme not in DEFAULT_PORTS or not parts.hostname:
        raise ConfigError(
            f"INVOICING_SMTP_URL {redact(url)} is not an SMTP URL "
            "(smtp://user:pass@host:587 or smtps://user:pass@host:465)"
        )
    query = parse_qs(parts.query)
    starttls = query.get("starttls", ["auto"])[-1]
    if starttls not in ("auto", "required"):
        raise ConfigError(f"INVOICING_SMTP_URL {redact(url)}: starttls= takes auto or required")
    return Server(
        url=url,
        tls=parts.scheme == "smtps",
        starttls_required=starttls == "required",
        host=parts.hostname,
        port=port or DEFAULT_PORTS[parts.scheme],
        user=unquote(parts.username) if parts.username else None,
        password=unquote(parts.password) if parts.password is not None else None,
    )


def connect(server: Server, connect_timeout: float) -> smtplib.SMTP:
    """A logged-in session (TLS first, as the URL says); SmtpUnreachable, SmtpLoginRefused or
    SmtpTlsRefused, one line each."""
    context = ssl.create_default_context()
    session: smtplib.SMTP | None = None
    try:
        if server.tls:
            session = smtplib.SMTP_SSL(server.host, server.port, timeout=connect_timeout, context=context)
        else:
            session = smtplib.SMTP(server.host, server.port, timeout=connect_timeout)
        session.ehlo()
        if not server.tls:
            if session.has_extn("starttls"):
                session.starttls(context=context)
                session.ehlo()
            elif server.starttls_required:
                raise SmtpTlsRefused(
                    f"the SMTP server {server.shown} offers no STARTTLS, and the URL says "
                    "starttls=required: nothing is sent in clear text"
                )
        if server.user is not None:
            session.login(server.user, server.password or "")
        if session.sock is not None:
            session.sock.settimeout(SESSION_TIMEOUT_S)
        return session
    except ssl.SSLCertVerificationError as exc:
        _close(session)
        raise SmtpTlsRefused(
            f"the SMTP server {server.shown} presented a certificate this machine does not trust "
            f"({exc.verify_message}); for a private CA, name its certificate in SSL_CERT_FILE"
        ) from None
    except smtplib.SMTPAuthenticationError as exc:
        _close(session)
        raise SmtpLoginRefused(
            f"the SMTP server {server.shown} refused the login: {reply_text(exc.smtp_code, exc.smtp_error)}"
        ) from None
    except SmtpTlsRefused:
        _close(session)
        raise
    except (smtplib.SMTPException, OSError) as exc:
        _close(session)
        raise SmtpUnreachable(
            f"cannot reach the SMTP server {server.shown}: {scrub(first_line(exc), server.url)}"
        ) from None


def _close(session: smtplib.SMTP | None) -> None:
    if session is None:
        return
    try:
        session.close()
    except OSError:
        pass


def preflight(server: Server, connect_timeout: float) -> None:
    """Log in and out before anything is marked: a wrong password is one line up front."""
    session = connect(server, connect_timeout)
    try:
        session.quit()
    except (smtplib.SMTPException, OSError):
        pass


def reply_text(code: int, message: bytes | str) -> str:
    text = message.decode("utf-8", "replace") if isinstance(message, bytes) else str(message)
    return f"{code} {' '.join(text.split())}"


def send(session: smtplib.SMTP, sender: str, recipient: str, data: bytes, envelope_id: str) -> str:
    """MAIL, RCPT, DATA for one recipient; the server's reply to DATA ("250 ...").

    A server that offers DSN (RFC 3461) is given `envelope_id` (the invoice's number, as
    xtext) and asked for the headers only: its bounce names the invoice even without them.

    Raises smtplib.SMTPResponseException (its code tells 4xx from 5xx) when the server
    refuses a step, SMTPServerDisconnected or OSError when the link is lost.
    """
    options: list[str] = []
    if not (sender + recipient).isascii():
        if not session.has_extn("smtputf8"):
            raise smtplib.SMTPResponseException(
                553, b"the address is not ASCII and the server has no SMTPUTF8"
            )
        options.append("SMTPUTF8")
    if session.has_extn("dsn"):
        options += [f"ENVID={_xtext(envelope_id)}", "RET=HDRS"]
    code, message = session.mail(sender, options)
    if code != 250:
        _reset(session)
        raise smtplib.SMTPSenderRefused(code, message, sender)
    code, message = session.rcpt(recipient)
    if code not in (250, 251):
        _reset(session)
        raise smtplib.SMTPResponseException(code, message)
    code, message = session.data(data)
    if code != 250:
        _reset(session)
        raise smtplib.SMTPResponseException(code, message)
    return reply_text(code, message)


def _reset(session: smtplib.SMTP) -> None:
    try:
        session.rset()
    except (smtplib.SMTPException, OSError):
        pass


def _xtext(value: str) -> str:
    """RFC 3461 xtext: printable ASCII but "+" and "=", others as +HH."""
    return "".join(ch if 33 <= ord(ch) <= 126 and ch not in "+=" else f"+{ord(ch):02X}" for ch in value)
