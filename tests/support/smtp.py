"""Real SMTP servers on loopback for the delivery tests (aiosmtpd, in a thread of the
test process): one that accepts, answers 451 a number of times first, refuses one
recipient with 550, drops the connection during DATA, asks for a password, or holds a
message in DATA until the test lets it go. Every message it accepted is kept as
received, to be counted per Message-ID and opened as a person would.
"""

from __future__ import annotations

import asyncio
import threading
from collections import Counter
from dataclasses import dataclass, field
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

from tests.support.workers import free_port


@dataclass
class Received:
    mail_from: str
    rcpt_tos: list[str]
    data: bytes

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
        received = Received(envelope.mail_from, list(envelope.rcpt_tos), bytes(envelope.content))
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
    def __init__(self, password: str) -> None:
        self.password = password

    def __call__(
        self, server: Any, session: Any, envelope: Any, mechanism: str, auth_data: Any
    ) -> AuthResult:
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
        kwargs: dict[str, Any] = {}
        if self.behaviour.password is not None:
            kwargs = {
                "authenticator": _Authenticator(self.behaviour.password),
                "auth_required": True,
                "auth_require_tls": False,
            }
        self.controller = Controller(_Handler(self), hostname="127.0.0.1", port=self.port, **kwargs)

    def url(self, password: str | None = None) -> str:
        if password is None:
            return f"smtp://127.0.0.1:{self.port}"
        return f"smtp://invoicing:{password}@127.0.0.1:{self.port}"

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
