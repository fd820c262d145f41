"""Real SMTP servers on loopback for the delivery tests (aiosmtpd, in a thread of the
test process): one that accepts, answers 451 a number of times first, refuses one
recipient with 550, drops the connection during DATA, asks for a password, or holds a
message in DATA until the test lets it go; it offers STARTTLS or speaks TLS from the
first byte with a certificate of a CA the test makes (`trustme`). Every message it
accepted is kept as received, to be counted per Message-ID and opened as a person would,
and every login and message says whether it came over TLS.
"""

from __future__ import annotations

import asyncio
import ssl
import threading
from collections import Counter
from dataclasses import dataclass, field
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from pathlib import Path
from typing import Any

import trustme
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

from tests.support.workers import free_port


@dataclass
class Received:
    mail_from: str
    rcpt_tos: list[str]
    data: bytes
    tls: str | None = None  # the TLS version of the session it came in ("TLSv1.3"), None in clear

    def message(self) -> EmailMessage:
        parsed = BytesParser(policy=policy.default).parsebytes(self.data)
        assert isinstance(parsed, EmailMessage)
        return parsed


@dataclass
class Behaviour:
    """What the server does; the defaults accept everything."""

    tempfail_data: int = 0  # answer the first N DATA with 451
    refuse: set[str] = field(default_factory=set)  # recipients refused with 550 at RCPT
    drop_data: int = 0  # close the connection in the first N DATA, without an answer
    password: str | None = None  # AUTH required: user "invoicing" with this password
    hold: str | None = None  # keep the message for this recipient in DATA until released
    # TLS with a certificate for 127.0.0.1 issued by this CA: offered as STARTTLS, or
    # from the first byte (`implicit`, what smtps:// expects).
    tls_ca: trustme.CA | None = None
    implicit: bool = False


def trusted(ca: trustme.CA, folder: Path) -> dict[str, str]:
    """The variables that make a command trust `ca`, as a user with a private CA sets them."""
    path = folder / "smtp-ca.pem"
    ca.cert_pem.write_to_path(str(path))
    return {"SSL_CERT_FILE": str(path)}


def _tls_version(smtp: Any) -> str | None:
    """The TLS version of the server's side of a session, None when it is in clear."""
    ssl_object = smtp.transport.get_extra_info("ssl_object") if smtp.transport else None
    return ssl_object.version() if ssl_object is not None else None


class _Handler:
    def __init__(self, server: SmtpServer) -> None:
        self.server = server

    async def handle_RCPT(self, smtp: Any, session: Any, envelope: Any, address: str, options: Any) -> str:
        if address in self.server.behaviour.refuse:
            return f"550 5.1.1 <{address}>: Recipient address rejected: User unknown"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, smtp: Any, session: Any, envelope: Any) -> str:
        server = self.server
        with server.lock:
            server.data_seen += 1
            seen = server.data_seen
        behaviour = server.behaviour
        if seen <= behaviour.drop_data:
            smtp.transport.close()
            return "421 closing"  # never reaches the client: the link is gone
        if seen <= behaviour.drop_data + behaviour.tempfail_data:
            return "451 4.3.0 Temporary failure, try again later"
        received = Received(
            envelope.mail_from, list(envelope.rcpt_tos), bytes(envelope.content), _tls_version(smtp)
        )
        with server.lock:
            server.received.append(received)
        if (
            behaviour.hold is not None
            and behaviour.hold in envelope.rcpt_tos
            and not server.released.is_set()
        ):
            server.holding.set()
            loop = asyncio.get_running_loop()
            await loop.run_in_executor(None, server.released.wait, 120)
        return f"250 2.0.0 Ok: queued as Q{seen}"


class _Authenticator:
    def __init__(self, owner: SmtpServer, password: str) -> None:
        self.owner = owner
        self.password = password

    def __call__(
        self, server: Any, session: Any, envelope: Any, mechanism: str, auth_data: Any
    ) -> AuthResult:
        with self.owner.lock:
            self.owner.logins.append(_tls_version(server))
        ok = (
            isinstance(auth_data, LoginPassword)
            and auth_data.login == b"invoicing"
            and auth_data.password == self.password.encode()
        )
        return AuthResult(success=ok, handled=False)


class SmtpServer:
    """An aiosmtpd server on 127.0.0.1 and a free port; `url` is what INVOICING_SMTP_URL takes."""

    def __init__(self, behaviour: Behaviour | None = None) -> None:
        self.behaviour = behaviour or Behaviour()
        self.port = free_port()
        self.lock = threading.Lock()
        self.received: list[Received] = []
        self.data_seen = 0
        self.holding = threading.Event()
        self.released = threading.Event()
        self.logins: list[str | None] = []  # per AUTH: the session's TLS version, None in clear
        kwargs: dict[str, Any] = {}
        if self.behaviour.password is not None:
            # AUTH is offered in clear too: a client that logs in before TLS would be seen.
            kwargs = {
                "authenticator": _Authenticator(self, self.behaviour.password),
                "auth_required": True,
                "auth_require_tls": False,
            }
        if self.behaviour.tls_ca is not None:
            context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            self.behaviour.tls_ca.issue_cert("127.0.0.1").configure_cert(context)
            kwargs["ssl_context" if self.behaviour.implicit else "tls_context"] = context
        self.controller = Controller(_Handler(self), hostname="127.0.0.1", port=self.port, **kwargs)

    def url(self, password: str | None = None, query: str = "") -> str:
        scheme = "smtps" if self.behaviour.implicit else "smtp"
        login = "" if password is None else f"invoicing:{password}@"
        return f"{scheme}://{login}127.0.0.1:{self.port}{'?' + query if query else ''}"

    def start(self) -> SmtpServer:
        self.controller.start()
        return self

    def stop(self) -> None:
        self.released.set()
        self.controller.stop()

    def messages(self) -> list[EmailMessage]:
        with self.lock:
            return [r.message() for r in self.received]

    def per_message_id(self) -> Counter[str]:
        return Counter(str(m["Message-ID"]) for m in self.messages())


def unreachable_url() -> str:
    """An SMTP URL where nothing listens."""
    return f"smtp://127.0.0.1:{free_port()}"
