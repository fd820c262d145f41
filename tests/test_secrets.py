"""Credentials in URLs never reach a message or a log line: one mask (config.redact) for
every URL form SQLAlchemy, redis-py, kombu and botocore accept, and real commands and
workers given such URLs."""

from __future__ import annotations

import pytest

from invoicing.config import redact, scrub, url_secrets
from tests.support.envs import REDIS_DB, REDIS_HOST, REDIS_PORT, Env
from tests.support.factories import initialized
from tests.support.workers import Workers

# (url, what the mask shows, the secret that must not show)
MASKED = [
    # a password holding what urllib ends the authority at: SQLAlchemy reads it whole
    ("postgresql+psycopg://user:pa/ss@host/db", "postgresql+psycopg://user:***@host/db", "pa/ss"),
    ("redis://:p#ss@host:6379/0", "redis://:***@host:6379/0", "p#ss"),
    ("redis://user:p?ss@host", "redis://user:***@host", "p?ss"),
    # kombu takes the last "@": so does the mask
    ("amqp://u:p@ss@host//", "amqp://u:***@host//", "p@ss"),
    ("postgresql://u:p%40ss%2Fw@h/db", "postgresql://u:***@h/db", "p%40ss%2Fw"),
    ("redis://:%F0%9F%94%91k@h/0", "redis://:***@h/0", "%F0%9F%94%91k"),
    # passwords in the query, masked up to the next "&key="
    ("redis://h:6379/0?password=sek&db=1", "redis://h:6379/0?password=***&db=1", "sek"),
    ("redis://h/0?pass=a&b&db=0", "redis://h/0?pass=***&db=0", "a&b"),
    ("redis://h/0?password=p#ss&db=0", "redis://h/0?password=***&db=0", "p#ss"),
    (
        "postgresql://bill:x@h/db?sslpassword=cert-pw&sslmode=require",
        "postgresql://bill:***@h/db?sslpassword=***&sslmode=require",
        "cert-pw",
    ),
    (
        "https://b.s3.example/k?X-Amz-Credential=AKIA%2F1&X-Amz-Signature=abc12&X-Amz-Date=1",
        "https://b.s3.example/k?X-Amz-Credential=***&X-Amz-Signature=***&X-Amz-Date=1",
        "abc12",
    ),
    ("redis://h/0?Pass%77ord=hidden", "redis://h/0?Pass%77ord=***", "hidden"),
    # other schemes and shapes
    ("rediss://:pw1@h:6380/0?ssl_cert_reqs=required", "rediss://:***@h:6380/0?ssl_cert_reqs=required", "pw1"),
    (
        "redis+sentinel://:pw1@h1:26379;sentinel://:pw2@h2:26379",
        "redis+sentinel://:***@h1:26379;sentinel://:***@h2:26379",
        "pw2",
    ),
    ("redis+socket:///tmp/r.sock?password=x9", "redis+socket:///tmp/r.sock?password=***", "x9"),
    ("unix://:pw3@/tmp/r.sock", "unix://:***@/tmp/r.sock", "pw3"),
    ("redis://:pw4@h1,h2:6380", "redis://:***@h1,h2:6380", "pw4"),
    ("http://key:secret@127.0.0.1:8333", "http://key:***@127.0.0.1:8333", "secret"),
    ("user:pw5@host", "user:***@host", "pw5"),
]

# A lone user name may be a password (redis://password@host is a common slip): masked.
LONE_USER = "redis://onlypw@host/0"

UNCHANGED = [
    "sqlite:///./invoicing.db",
    "sqlite:////srv/billing/at@home.db",
    "redis://127.0.0.1:6379/0",
    "redis://h/0?db=1&health_check_interval=10",
    "redis+socket:///tmp/r.sock",
    "memory://localhost/",
]


@pytest.mark.parametrize(("url", "shown", "secret"), MASKED)
def test_the_mask_hides_the_password(url: str, shown: str, secret: str) -> None:
    # when
    masked = redact(url)
    # then
    assert masked == shown
    assert secret not in masked


@pytest.mark.parametrize("url", UNCHANGED)
def test_a_url_without_credentials_is_shown_as_it_is(url: str) -> None:
    assert redact(url) == url


def test_a_lone_user_name_is_masked_in_the_url() -> None:
    assert redact(LONE_USER) == "redis://***@host/0"


def test_a_lone_user_name_is_not_cut_out_of_other_words() -> None:
    # given a database URL whose only credential is the user name "postgres"
    url = "postgresql+psycopg://postgres@127.0.0.1:1/billing"
    # when a driver's message repeats the URL
    cleaned = scrub(f"{url}: connection refused by postgresql", url)
    # then the URL is masked and the message still reads
    assert cleaned == "postgresql+psycopg://***@127.0.0.1:1/billing: connection refused by postgresql"


def test_an_unset_url_is_named_so() -> None:
    assert redact(None) == "(unset)"


SCRUBBED = [(url, secret) for url, _shown, secret in MASKED if len(secret) >= 4]


@pytest.mark.parametrize(("url", "secret"), SCRUBBED)
def test_a_library_message_repeating_the_secret_is_scrubbed(url: str, secret: str) -> None:
    # given a driver's message that quotes the URL's secret, and one that quotes the URL
    message = f"could not connect: bad auth {secret!r}; url {url}"
    # when
    cleaned = scrub(message, url)
    # then
    assert secret not in cleaned
    assert secret in url_secrets(url)


# A password every form of which must stay out of what a user sees: the secret itself,
# and the pieces a parser splitting at "/", "#", "?" or "@" would quote.
PIECES = ("Hunter7", "Tail9x")


def _shows_a_piece(text: str) -> bool:
    return any(piece in text for piece in PIECES)


@pytest.mark.parametrize(
    "broker",
    [
        "redis://:Hunter7/Tail9x@127.0.0.1:1/0",
        "redis://:Hunter7#Tail9x@127.0.0.1:1/0",
        "redis://bill:Hunter7?Tail9x@127.0.0.1:1/0",
        "redis://:Hunter7@Tail9x@127.0.0.1:1/0",
        "redis://:Hunter7%2FTail9x@127.0.0.1:1/0",
        "rediss://:Hunter7Tail9x@127.0.0.1:1/0",
        "redis://127.0.0.1:1/0?password=Hunter7Tail9x",
        "redis://:Hunter7Tail9x@127.0.0.1:1,127.0.0.1:2/0",
    ],
)
def test_a_broker_that_cannot_be_used_is_named_without_its_password(env: Env, broker: str) -> None:
    # when the demo is asked to run on it
    proc = env.cli("demo", timeout=120, INVOICING_BROKER_URL=broker)
    # then one line, with the URL masked, and no piece of the password anywhere
    assert proc.returncode in (1, 2), proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1, proc.stderr
    assert "***" in proc.stderr
    assert not _shows_a_piece(proc.stdout + proc.stderr), proc.stderr


def test_an_amqp_broker_password_with_an_at_sign_is_not_shown(env: Env) -> None:
    # when kombu (which takes the last "@") cannot reach it
    proc = env.cli(
        "demo",
        timeout=120,
        INVOICING_BROKER_URL="amqp://bill:Hunter7@Tail9x@127.0.0.1:1//",
        INVOICING_RESULT_BACKEND="redis://:Hunter7Tail9x@127.0.0.1:1/1",
    )
    # then
    assert proc.returncode == 1
    assert "amqp://bill:***@127.0.0.1:1//" in proc.stderr
    assert not _shows_a_piece(proc.stdout + proc.stderr), proc.stderr


@pytest.mark.parametrize(
    "database",
    [
        "postgresql+psycopg://bill:Hunter7/Tail9x@127.0.0.1:1/db",
        "postgresql+psycopg://bill:Hunter7#Tail9x@127.0.0.1:1/db",
        "postgresql+psycopg://bill:Hunter7?Tail9x@127.0.0.1:1/db",
        "postgresql+psycopg://bill:Hunter7@Tail9x@127.0.0.1:1/db",
        "postgresql+psycopg://bill:Hunter7%25Tail9x@127.0.0.1:1/db",
        "postgresql+psycopg://bill@127.0.0.1:1/db?password=Hunter7Tail9x",
        "postgresql+psycopg://bill@127.0.0.1:1/db?sslpassword=Hunter7Tail9x&sslmode=disable",
    ],
)
def test_a_database_that_cannot_be_used_is_named_without_its_password(env: Env, database: str) -> None:
    # when
    proc = env.cli("status", timeout=120, INVOICING_DATABASE_URL=database)
    # then
    assert proc.returncode in (1, 2), proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1, proc.stderr
    assert "***" in proc.stderr
    assert not _shows_a_piece(proc.stdout + proc.stderr), proc.stderr


def test_credentials_in_the_s3_endpoint_are_not_shown(env: Env) -> None:
    # given a database, and an S3 endpoint URL carrying credentials that does not answer
    initialized(env)
    # when a run needs the output storage
    proc = env.cli(
        "run",
        "--period",
        "2026-10",
        timeout=120,
        INVOICING_OUTPUT_DIR="s3://invoices/night",
        AWS_ENDPOINT_URL="http://key:Hunter7%2FTail9x@127.0.0.1:1",
        AWS_ACCESS_KEY_ID="key",
        AWS_SECRET_ACCESS_KEY="Hunter7Tail9x",
    )
    # then
    assert proc.returncode == 1
    assert "cannot reach http://key:***@127.0.0.1:1" in proc.stderr
    assert not _shows_a_piece(proc.stdout + proc.stderr), proc.stderr


def test_a_worker_given_an_unreadable_broker_url_stops_without_showing_it(workers: Workers) -> None:
    # when a worker is started on a broker URL whose password holds an unencoded "/"
    broker = f"redis://:Hunter7/Tail9x@{REDIS_HOST}:{REDIS_PORT}/{REDIS_DB}"
    with pytest.raises(AssertionError, match="worker exited"):
        workers.start(INVOICING_BROKER_URL=broker)
    # then it says why in one masked line, and its log holds no piece of the password
    log = workers.log_text()
    assert "INVOICING_BROKER_URL redis://:***@" in log and "cannot be read" in log
    assert not _shows_a_piece(log), log


def test_a_percent_encoded_password_works_and_is_never_shown(workers: Workers) -> None:
    # given workers and the CLI on a broker URL whose password holds "/", "#" and "@",
    # percent-encoded as the URL rules ask (the shared Redis has no password: it ignores it)
    broker = f"redis://:Hunter7%2F%23%40Tail9x@{REDIS_HOST}:{REDIS_PORT}/{REDIS_DB}"
    workers.env.vars["INVOICING_BROKER_URL"] = broker
    workers.env.invoke("db", "init")  # a worker refuses a database without the schema
    workers.start()
    # when
    proc = workers.env.cli("demo")
    # then the demo runs, and neither it nor the worker shows the password in any form
    assert proc.stdout.strip() == "285", proc.stderr
    log = workers.log_text()
    assert "redis://:**@" in log  # Celery's own mask in the worker's banner
    assert not _shows_a_piece(proc.stdout + proc.stderr + log), log
