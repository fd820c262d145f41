"""`invoicing serve` under many clients polling at once: the token check shared by the
requests that arrive during one lookup still refuses a revoked token from the next lookup
on, and the run's answer shared for 250 ms is never older than that. A real server on
loopback (embedded default: SQLite), real clients in threads, the real CLI changing the
database from another process."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest

from tests.support import envs
from tests.support.factories import seed_fixtures, write_json
from tests.support.runs import run_json
from tests.support.server import Server, make_token

CLIENTS = 12
HANG_GUARD_S = 120
ANSWER_KEPT_S = 0.25  # invoicing.web.recent.TTL_S, as the API documents it


@dataclass
class Poller:
    """One client polling `path` until `until` says stop: each answer's status and body,
    and whether the request was sent after `after` was set."""

    server: Server
    token: str
    path: str
    after: threading.Event
    until: threading.Event
    answers: list[tuple[bool, int, Any]] = field(default_factory=list)
    thread: threading.Thread | None = None

    def start(self) -> Poller:
        self.thread = threading.Thread(target=self._poll, daemon=True)
        self.thread.start()
        return self

    def _poll(self) -> None:
        deadline = time.monotonic() + HANG_GUARD_S
        with self.server.client(self.token) as client:
            while not self.until.is_set() and time.monotonic() < deadline:
                sent_after = self.after.is_set()
                response = client.get(self.path)
                self.answers.append((sent_after, response.status_code, response.json()))
                if response.status_code == 401:
                    return

    def join(self) -> None:
        assert self.thread is not None
        self.thread.join(HANG_GUARD_S + 10)
        assert not self.thread.is_alive(), "a poller hung"


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """The fixtures with September billed (run 1), and a server."""
    env = envs.embedded(tmp_path_factory.mktemp("polling"))
    seed_fixtures(env)
    run_json(env, "--period", "2026-09")
    server = Server(env).start()
    try:
        yield server
    finally:
        server.stop()


def test_a_token_revoked_while_clients_poll_is_refused_from_the_next_lookup_on(served: Server) -> None:
    # given clients polling with one token, each answered at least once
    token = make_token(served.env, "wallboard", "read")
    revoked, never = threading.Event(), threading.Event()
    pollers = [Poller(served, token, "/runs", revoked, never).start() for _ in range(CLIENTS)]
    deadline = time.monotonic() + HANG_GUARD_S
    while not all(p.answers for p in pollers) and time.monotonic() < deadline:
        time.sleep(0.05)
    # when the token is revoked by the CLI while they go on polling
    served.env.cli("token", "revoke", "wallboard", check=True)
    revoked.set()
    for poller in pollers:
        poller.join()
    # then each was answered before, ends refused, is never answered after a refusal, and
    # of the requests it sent after the revocation at most one (which joined a lookup begun
    # before it) was answered
    for poller in pollers:
        statuses = [status for _, status, _ in poller.answers]
        after = [status for sent_after, status, _ in poller.answers if sent_after]
        assert statuses[0] == 200 and statuses[-1] == 401, statuses
        assert statuses == sorted(statuses), statuses  # 200s, then the 401
        assert after.count(200) <= 1, after
        assert poller.answers[-1][2] == {"error": "unknown or revoked token"}


def test_a_run_polled_by_many_is_never_answered_older_than_250_ms(served: Server) -> None:
    # given clients polling the September run, which has no late charge waiting
    token = make_token(served.env, "dashboards", "read")
    importing, stop = threading.Event(), threading.Event()
    pollers = [Poller(served, token, "/runs/1", importing, stop).start() for _ in range(CLIENTS)]
    deadline = time.monotonic() + HANG_GUARD_S
    while not all(p.answers for p in pollers) and time.monotonic() < deadline:
        time.sleep(0.05)
    # when another process imports a late September charge while they poll
    late = {
        "charges": [
            {
                "id": "late-polled",
                "account": "A-0001",
                "period": "2026-09",
                "description": "Roaming",
                "quantity": "1",
                "unit_price": "4.20",
            }
        ]
    }
    path = write_json(served.env, late, "late.json")
    importing.set()
    served.env.cli("import", path, check=True)
    stop.set()
    for poller in pollers:
        poller.join()
    # then, with no request under way, the next answer after 250 ms shows it: no answer is
    # kept longer than that after its computation began
    time.sleep(ANSWER_KEPT_S + 0.05)
    with served.client(token) as client:
        shown = client.get("/runs/1").json()
    assert shown["charges_waiting"] == 1
    # and what the pollers sent before the import began showed no late charge
    for poller in pollers:
        before = [body["charges_waiting"] for sent_after, _, body in poller.answers if not sent_after]
        assert before and set(before) == {0}, before
