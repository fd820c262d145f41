"""The SMTP server `invoicing bench --deliver` sends to: aiosmtpd on loopback, counting
the messages it accepted and keeping none.

aiosmtpd is not a dependency of the tool (it comes with the `test` extra): the bench asks
for it in one line when it is missing.
"""

from __future__ import annotations

import socket
import threading
from typing import Any

from invoicing.errors import UsageError


class MailSink:
    def __init__(self) -> None:
        try:
            from aiosmtpd.controller import Controller
        except ImportError:
            raise UsageError(
                "bench --deliver needs aiosmtpd for its SMTP server: pip install aiosmtpd "
                "(or the project's test extra)"
            ) from None
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        self.accepted = 0
        self._lock = threading.Lock()
        self._controller = Controller(self, hostname="127.0.0.1", port=self.port)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        with self._lock:
            self.accepted += 1
        return "250 2.0.0 Ok"

    @property
    def url(self) -> str:
        return f"smtp://127.0.0.1:{self.port}"

    def start(self) -> None:
        self._controller.start()

    def stop(self) -> None:
        self._controller.stop()
