"""`invoicing void` once an invoice has left the system by the ways that came after the
command: fetched through the HTTP API (`GET /invoices/{number}.pdf`, `GET
/runs/{id}/export.zip`), e-mailed by `deliver`, or being e-mailed at that moment. Each
is refused with credit notes as the way; a run whose e-mails all failed never left and
is voided. Real servers on loopback: `invoicing serve` and an SMTP server (aiosmtpd)."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from contextlib import contextmanager

import httpx

from tests.support.delivery import billed, status_delivery, use_smtp
from tests.support.envs import Env
from tests.support.paths import BIN
from tests.support.runs import status_of
from tests.support.server import Server, make_token
from tests.support.smtp import Behaviour, SmtpServer

EMAIL = {"A-0001": "email", "A-0009": "both", "A-0013": "email", "A-0016": "email"}
HELD = "juergen.mueller@example.org"  # A-0001's: the first of the run's four e-mails


def assert_refused(proc: subprocess.CompletedProcess[str], *needles: str) -> None:
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in proc.stderr, proc.stderr
    for needle in (*needles, "correct its invoices with credit notes instead"):
        assert needle in lines[0], proc.stderr


@contextmanager
def api_client(env: Env) -> Iterator[httpx.Client]:
    """`invoicing serve` on the billed database, and a client with a read token."""
    token = make_token(env, "accounting", "read")
    server = Server(env).start()
    try:
        with server.client(token) as client:
            yield client
    finally:
        server.stop()


def test_an_invoice_fetched_through_the_api_is_never_voided(env: Env) -> None:
    # given a billed run and one invoice's PDF fetched through the API
    run = billed(env, {})
    with api_client(env) as client:
        fetched = client.get("/invoices/INV-2026-10-000004.pdf")
    assert fetched.status_code == 200 and fetched.content.startswith(b"%PDF-"), fetched.text
    # when the run is voided
    proc = env.cli("void", str(run["run_id"]))
    # then it is refused, naming the invoice and how it left, and nothing is void
    assert_refused(
        proc, f"billing run {run['run_id']} cannot be voided", "INV-2026-10-000004", "API download"
    )
    assert status_of(env, run["run_id"])["status"] == "completed"


def test_a_run_exported_through_the_api_is_never_voided(env: Env) -> None:
    # given a billed run fetched as the accountants' ZIP through the API
    run = billed(env, {})
    with api_client(env) as client:
        exported = client.get(f"/runs/{run['run_id']}/export.zip")
    assert exported.status_code == 200 and exported.content.startswith(b"PK"), exported.text
    # when the run is voided
    proc = env.cli("void", str(run["run_id"]))
    # then it is refused: its first invoice left in the export
    assert_refused(proc, "INV-2026-10-000001 has left the system (export)")
    assert status_of(env, run["run_id"])["status"] == "completed"


def test_an_e_mailed_run_is_never_voided(env: Env) -> None:
    # given a run whose e-mail invoices were delivered
    run = billed(env, EMAIL)
    smtp = SmtpServer().start()
    try:
        use_smtp(env, smtp.url())
        env.cli("deliver", str(run["run_id"]), check=True)
    finally:
        smtp.stop()
    assert status_delivery(env, run["run_id"])["counts"]["sent"] == 4
    # when the run is voided
    proc = env.cli("void", str(run["run_id"]))
    # then it is refused: an e-mailed invoice has left
    assert_refused(proc, "has left the system (email)")
    assert status_of(env, run["run_id"])["status"] == "completed"


def test_a_run_being_e_mailed_is_not_voided_and_its_e_mails_all_go(env: Env) -> None:
    # given a run whose first e-mail is held in SMTP DATA by the server
    run = billed(env, EMAIL)
    smtp = SmtpServer(Behaviour(hold=HELD)).start()
    try:
        use_smtp(env, smtp.url())
        deliver = subprocess.Popen(
            [str(BIN / "invoicing"), "deliver", str(run["run_id"])],
            cwd=env.path,
            env=env.environ(),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            assert smtp.holding.wait(120), "the held e-mail never reached DATA"
            # when the run is voided while that e-mail is in DATA
            proc = env.cli("void", str(run["run_id"]))
        finally:
            smtp.released.set()
            out, err = deliver.communicate(timeout=300)
    finally:
        smtp.stop()
    # then the void is refused, naming the e-mail under way, and every e-mail went out once
    assert_refused(proc, "is being e-mailed (sending)")
    assert deliver.returncode == 0, err
    assert sorted(smtp.per_message_id().values()) == [1, 1, 1, 1]
    assert status_of(env, run["run_id"])["status"] == "completed"


def test_a_run_whose_e_mails_all_failed_never_left_and_is_voided(env: Env) -> None:
    # given a run whose every e-mail recipient the server refuses (550): nothing left
    run = billed(env, {"A-0001": "email"})
    smtp = SmtpServer(Behaviour(refuse={HELD})).start()
    try:
        use_smtp(env, smtp.url())
        delivered = env.cli("deliver", str(run["run_id"]))
    finally:
        smtp.stop()
    assert delivered.returncode == 3, delivered.stderr
    assert status_delivery(env, run["run_id"])["counts"]["failed"] == 1
    # when the run is voided
    proc = env.cli("void", str(run["run_id"]), "--reason", "wrong usage file")
    # then it is void, and deliver sends nothing of it
    assert proc.returncode == 0, proc.stderr
    assert status_of(env, run["run_id"])["status"] == "void"
    again = env.cli("deliver", str(run["run_id"]))
    assert again.returncode == 2 and "is void; nothing of it is sent" in again.stderr, again.stderr
