"""A webhook receiver on loopback, as a user would write one: the README's own `receive`
(it verifies with the `standardwebhooks` package and deduplicates by webhook-id) behind a
real HTTP server started by the test, which can answer 500 first, or not be up at all.
"""

from __future__ import annotations

import base64
import os
import re
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from tests.support.paths import ROOT
from tests.support.runs import wait_until
from tests.support.workers import free_port

SECTION = "## Webhooks"


def new_secret() -> str:
    """A Standard Webhooks secret: whsec_ and the base64 of 32 random bytes."""
    return "whsec_" + base64.b64encode(os.urandom(32)).decode()


def readme_receiver(secret: str, handle: Callable[[str, dict[str, Any]], None]) -> Callable[..., int]:
    """The `receive` function of the README's Webhooks section, run as it is written, with
    `secret` and `handle` as the names it expects from its surroundings."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    start = text.index(SECTION)
    end = text.find("\n## ", start + len(SECTION))
    code = re.search(r"^```python\n(.*?)^```$", text[start:end], flags=re.M | re.S)
    assert code is not None, "the README's Webhooks section has no python block"
    names: dict[str, Any] = {"secret": secret, "handle": handle}
    exec(compile(code.group(1), "README.md (Webhooks)", "exec"), names)  # noqa: S102 - the README's code
    return names["receive"]


class Receiver:
    """An HTTP server on 127.0.0.1 whose POSTs go to the README's `receive`.

    `failures`: the first N POSTs are answered `failure_status` (500) without looking at them. `handled` is
    what `receive` passed on (type and data, in order), `posts` every POST as received
    (headers with lower-case names, body, the status answered)."""

    def __init__(
        self,
        secret: str,
        failures: int = 0,
        port: int | None = None,
        failure_status: int = 500,
        answer_after_s: float = 0.0,
    ) -> None:
        self.port = port or free_port()
        self.answer_after_s = answer_after_s  # a slow receiver: each answer waits this long
        self.failures = failures
        self.failure_status = failure_status
        self.handled: list[tuple[str, dict[str, Any]]] = []
        self.posts: list[tuple[dict[str, str], bytes, int]] = []
        self._lock = threading.Lock()
        self._receive = readme_receiver(secret, lambda kind, data: self.handled.append((kind, data)))
        self._server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hooks"

    def start(self) -> Receiver:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's name
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                time.sleep(receiver.answer_after_s)
                with receiver._lock:
                    if receiver.failures > 0:
                        receiver.failures -= 1
                        status = receiver.failure_status
                    else:
                        status = receiver._receive(body, self.headers)
                    receiver.posts.append(({k.lower(): v for k, v in self.headers.items()}, body, status))
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *_args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def wait_handled(self, kind: str, timeout: float = 60) -> dict[str, Any]:
        """The data of the first handled event of type `kind`, waiting for it (hang guard)."""

        def found() -> bool:
            return any(handled == kind for handled, _ in self.handled)

        assert wait_until(found, timeout), f"no {kind} handled in {timeout} s: {self.handled} {self.posts}"
        return next(data for handled, data in self.handled if handled == kind)

    def types(self) -> list[str]:
        return [kind for kind, _ in self.handled]


def post_again(url: str, headers: dict[str, str], body: bytes) -> int:
    """POST `body` with these headers as given (a replay); the status answered."""
    wanted = {k: v for k, v in headers.items() if k.lower().startswith(("webhook-", "content-type"))}
    request = urllib.request.Request(url, data=body, headers=wanted, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return int(response.status)
    except urllib.error.HTTPError as exc:
        return exc.code


def webhook_env(env: Any, receiver: Receiver, secret: str, **extra: str) -> None:
    """`env` sends webhooks to `receiver`, signed with `secret`, retried after 0.2 s at first."""
    env.vars.update(
        {
            "INVOICING_WEBHOOK_URLS": receiver.url,
            "INVOICING_WEBHOOK_SECRET": secret,
            "INVOICING_WEBHOOK_RETRY_S": "0.2",
            "INVOICING_WEBHOOK_TIMEOUT_S": "5",
            **extra,
        }
    )


class Receivers:
    """The webhook receivers of one test (the `receivers` fixture stops them, however the
    test ends): each with a secret of its own, the test's environment sending to it."""

    def __init__(self) -> None:
        self.made: list[Receiver] = []

    def add(
        self,
        env: Any,
        *,
        up: bool = True,
        failures: int = 0,
        failure_status: int = 500,
        answer_after_s: float = 0.0,
        **settings: str,
    ) -> Receiver:
        """A receiver `env` sends its events to (`webhook_env`, with these extra
        INVOICING_* settings); started unless `up` is False (it comes up with `start`)."""
        secret = new_secret()
        receiver = Receiver(
            secret, failures=failures, failure_status=failure_status, answer_after_s=answer_after_s
        )
        self.made.append(receiver)
        webhook_env(env, receiver, secret, **settings)
        return receiver.start() if up else receiver

    def stop(self) -> None:
        for receiver in self.made:
            receiver.stop()
