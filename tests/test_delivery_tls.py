"""E-mail over TLS, as INVOICING_SMTP_URL promises it, against real aiosmtpd servers on
loopback with a certificate of a CA made in the test (`trustme`): STARTTLS when the server
offers it, `?starttls=required` refusing a server without it, smtps:// from the first byte,
and the server's certificate verified (the commands trust the test's CA through
SSL_CERT_FILE, as a user with a private CA would set it).
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator

import pytest
import trustme

from invoicing.models import Delivery
from tests.support.delivery import billed, deliver_json, use_smtp
from tests.support.envs import Env
from tests.support.runs import count_rows
from tests.support.smtp import Behaviour, SmtpServer, trusted

EMAIL = {"A-0001": "email", "A-0013": "email"}
PASSWORD = "tls-only-horse-battery"


@pytest.fixture
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture
def servers() -> Iterator[list[SmtpServer]]:
    started: list[SmtpServer] = []
    yield started
    for server in started:
        server.stop()


def _server(servers: list[SmtpServer], behaviour: Behaviour) -> SmtpServer:
    server = SmtpServer(behaviour).start()
    servers.append(server)
    return server


def _refused_before_anything(proc: subprocess.CompletedProcess[str], server: SmtpServer) -> str:
    """`deliver` refused at its preflight: exit 2 with one line (returned), no login and no
    message on the server, no delivery recorded, and the password nowhere in the output."""
    lines = proc.stderr.strip().splitlines()
    assert (proc.returncode, len(lines), count_rows(Delivery)) == (2, 1, 0)
    assert (server.logins, server.received) == ([], [])
    assert PASSWORD not in proc.stdout + proc.stderr
    return lines[0]


def test_starttls_offered_is_used_for_the_login_and_every_message(
    env: Env, ca: trustme.CA, servers: list[SmtpServer]
) -> None:
    # given a server that offers STARTTLS and AUTH (in clear too), and a client that trusts its CA
    server = _server(servers, Behaviour(password=PASSWORD, tls_ca=ca))
    run = billed(env, EMAIL)
    use_smtp(env, server.url(password=PASSWORD))
    env.vars.update(trusted(ca, env.path))
    # when the run is delivered
    result = deliver_json(env, run["run_id"])
    # then every login and every message came over TLS
    tls_of_messages = [received.tls for received in server.received]
    assert result["delivery"]["counts"]["sent"] == 2
    assert server.logins and all(version is not None for version in server.logins)
    assert len(tls_of_messages) == 2 and all(version is not None for version in tls_of_messages)


def test_starttls_required_refuses_a_server_without_it_before_anything(
    env: Env, servers: list[SmtpServer]
) -> None:
    # given a server that offers no STARTTLS, and a URL that requires it
    server = _server(servers, Behaviour(password=PASSWORD))
    run = billed(env, EMAIL)
    use_smtp(env, server.url(password=PASSWORD, query="starttls=required"))
    # when the run is delivered
    proc = env.cli("deliver", str(run["run_id"]))
    # then one line, exit 2, no login, nothing sent or marked, and the password nowhere
    line = _refused_before_anything(proc, server)
    assert "STARTTLS" in line and "starttls=required" in line


def test_starttls_required_sends_when_the_server_offers_it(
    env: Env, ca: trustme.CA, servers: list[SmtpServer]
) -> None:
    # given a server that offers STARTTLS, and a URL that requires it
    server = _server(servers, Behaviour(password=PASSWORD, tls_ca=ca))
    run = billed(env, EMAIL)
    use_smtp(env, server.url(password=PASSWORD, query="starttls=required"))
    env.vars.update(trusted(ca, env.path))
    # when the run is delivered
    result = deliver_json(env, run["run_id"])
    # then both are sent, over TLS
    assert result["delivery"]["counts"]["sent"] == 2
    assert [received.tls is not None for received in server.received] == [True, True]


def test_smtps_speaks_tls_from_the_first_byte(env: Env, ca: trustme.CA, servers: list[SmtpServer]) -> None:
    # given a server that speaks TLS from the first byte (no STARTTLS), and a trusted CA
    server = _server(servers, Behaviour(password=PASSWORD, tls_ca=ca, implicit=True))
    run = billed(env, EMAIL)
    use_smtp(env, server.url(password=PASSWORD))
    env.vars.update(trusted(ca, env.path))
    # when the run is delivered over smtps://
    result = deliver_json(env, run["run_id"])
    # then the login and both messages came over TLS
    assert server.url().startswith("smtps://")
    assert result["delivery"]["counts"]["sent"] == 2
    assert server.logins and all(version is not None for version in server.logins)
    assert [received.tls is not None for received in server.received] == [True, True]


@pytest.mark.parametrize("implicit", [False, True], ids=["starttls", "smtps"])
def test_a_certificate_the_client_does_not_trust_is_one_line_exit_2_and_marks_nothing(
    env: Env, ca: trustme.CA, servers: list[SmtpServer], implicit: bool
) -> None:
    # given a server whose certificate comes from a CA the client does not trust
    server = _server(servers, Behaviour(password=PASSWORD, tls_ca=ca, implicit=implicit))
    run = billed(env, EMAIL)
    use_smtp(env, server.url(password=PASSWORD))
    env.vars.update(trusted(trustme.CA(), env.path))
    # when the run is delivered
    proc = env.cli("deliver", str(run["run_id"]))
    # then one line naming the certificate, exit 2; no login, nothing sent or marked
    line = _refused_before_anything(proc, server)
    assert "certificate" in line and "SSL_CERT_FILE" in line
