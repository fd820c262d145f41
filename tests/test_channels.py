"""Channels: which subscribers' invoices go into the run's print file (print, both) and
which are e-mailed (email, both); the import's `channel` field and its default."""

from __future__ import annotations

import csv
import io
import json
import zipfile
from pathlib import Path

from pypdf import PdfReader
from sqlalchemy import select

from invoicing.db import session_scope
from invoicing.models import Invoice, Subscriber
from tests.support.delivery import EMAIL, billed, fixtures_with_channels, number_of
from tests.support.envs import Env
from tests.support.factories import SUBSCRIBER_FIELDS, initialized, write_csv, write_json


def _bookmarks(path: str) -> list[str]:
    return [item.title.split(" — ")[0] for item in PdfReader(path).outline]  # type: ignore[union-attr]


def test_the_print_file_leaves_out_the_email_only_invoices(env: Env) -> None:
    # given
    run = billed(env, EMAIL)
    # when
    printed = _bookmarks(run["output"])
    # then
    assert (len(printed), number_of("A-0001") in printed, number_of("A-0009") in printed) == (16, False, True)


def test_the_export_holds_every_invoice(env: Env) -> None:
    # given
    run = billed(env, EMAIL)
    # when
    env.cli("export", str(run["run_id"]), "-o", "all.zip", check=True)
    # then
    with zipfile.ZipFile(env.path / "all.zip") as archive:
        rows = list(csv.DictReader(io.StringIO(archive.read("index.csv").decode("utf-8-sig"))))
    assert len(rows) == 19


def test_a_run_of_email_invoices_only_completes_without_a_print_file(env: Env) -> None:
    # given
    env.vars["INVOICING_DEFAULT_CHANNEL"] = "email"
    # when
    run = billed(env, {}, INVOICING_DEFAULT_CHANNEL="email")
    # then
    assert (run["status"], run["output"], run["invoices"]) == ("completed", None, 19)


def test_without_channels_every_subscriber_is_print(env: Env) -> None:
    # given
    billed(env, {})
    # when
    with session_scope() as session:
        channels = set(session.scalars(select(Invoice.bill_channel)))
    # then
    assert channels == {"print"}


def test_the_default_channel_setting_applies_to_rows_without_one(env: Env) -> None:
    # given
    initialized(env)
    data = fixtures_with_channels({"A-0001": "print"})
    # when
    env.cli("import", write_json(env, data), check=True, INVOICING_DEFAULT_CHANNEL="both")
    # then
    with session_scope() as session:
        rows = session.execute(select(Subscriber.account, Subscriber.channel))
        found = {account: channel for account, channel in rows}
    assert (found["A-0001"], found["A-0002"]) == ("print", "both")


def test_an_unknown_channel_is_an_import_error_naming_the_row(env: Env) -> None:
    # given
    initialized(env)
    data = fixtures_with_channels({"A-0003": "fax"})
    # when
    proc = env.cli("import", write_json(env, data))
    # then
    assert (
        proc.returncode,
        "subscribers[2] (account 'A-0003'): channel: must be one of print, email, both" in proc.stderr,
    ) == (2, True)


def test_a_csv_channel_column_is_read(env: Env) -> None:
    # given
    initialized(env)
    data = json.loads(Path(write_json(env, fixtures_with_channels({}))).read_text(encoding="utf-8"))
    env.cli("import", write_json(env, {"plans": data["plans"]}, "plans.json"), check=True)
    row = data["subscribers"][0]
    path = write_csv(env, [{**row, "channel": "email"}], (*SUBSCRIBER_FIELDS, "channel"), "subscribers.csv")
    # when
    env.cli("import", path, check=True)
    # then
    with session_scope() as session:
        assert (
            session.scalar(select(Subscriber.channel).where(Subscriber.account == row["account"])) == "email"
        )
