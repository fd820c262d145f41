"""INVOICING_MAIL_RATE: the generic cell rate algorithm in one Redis Lua script, shared by
every sender that uses the same Redis and prefix (delivery/ratelimit.py). Decisions are
asserted, never durations: at 0.5 messages a second the second message within two
seconds must wait, whoever asks."""

from __future__ import annotations

import uuid

from invoicing.delivery.ratelimit import Limiter
from tests.support.envs import REDIS_DB, REDIS_HOST, REDIS_PORT, Env

URL = f"redis://{REDIS_HOST}:{REDIS_PORT}/{REDIS_DB}"


def test_a_second_sender_waits_for_the_first_ones_message(redis_env: Env) -> None:
    # given two workers' limiters on one Redis, under one prefix
    prefix = f"invoicing-test-{uuid.uuid4().hex[:10]}:"
    first, second = Limiter(0.5, URL, prefix), Limiter(0.5, URL, prefix)
    # when each asks to send one message
    asked = (first.ask(), second.ask())
    # then the first goes at once and the second is told to wait
    assert (asked[0], asked[1] > 0) == (0, True)


def test_senders_under_other_prefixes_do_not_share_a_rate(redis_env: Env) -> None:
    # given
    first = Limiter(0.5, URL, f"invoicing-test-{uuid.uuid4().hex[:10]}:")
    second = Limiter(0.5, URL, f"invoicing-test-{uuid.uuid4().hex[:10]}:")
    # when
    asked = (first.ask(), second.ask())
    # then
    assert asked == (0, 0)


def test_without_a_rate_nothing_waits() -> None:
    # given
    limiter = Limiter(0, URL, "unused:")
    # when
    asked = [limiter.ask() for _ in range(100)]
    # then
    assert set(asked) == {0}
