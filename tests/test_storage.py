"""Object storage: INVOICING_OUTPUT_DIR=s3://bucket/prefix against a real S3 server
(SeaweedFS on loopback, tests/support/s3.py). Workers in folders of their own, a server
restarted mid-run, a store lost after a command's preflight, a bucket that refuses writes,
the commands that read the stored files, and the bad settings refused before anything is
dispatched."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import zipfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from pypdf import PdfReader
from sqlalchemy import update

from invoicing.config import get_settings
from invoicing.db import session_scope
from invoicing.models import BillingRun, Invoice, RunStatus
from invoicing.run.printing import earlier_volumes
from invoicing.storage import store_for
from tests.support.envs import Env
from tests.support.factories import FIXTURES
from tests.support.faults import invoice_writes_held
from tests.support.runs import count_rows, run_json, summary_of, wait_for_final_status
from tests.support.s3 import (
    ADMIN,
    BUCKET,
    WRITER,
    SeaweedS3,
    assert_s3_run_consistent,
    files_below,
    objects,
    use_s3,
    writes_refused,
)
from tests.support.workers import TcpProxy, Workers, free_port


def dispatched_on_s3(
    workers: Workers, server: SeaweedS3, monkeypatch: pytest.MonkeyPatch, subscribers: int, batch_size: int
) -> tuple[Env, int]:
    """A run of `subscribers` synthetic subscribers billable in October, its files on
    `server`, dispatched in batches of `batch_size` before any worker is started (the
    real commands, in process): the workers' environment and the run's id."""
    env = workers.env
    use_s3(env, server)
    env.apply(monkeypatch)
    env.invoke("db", "init")
    env.invoke("db", "seed", "--generate", str(subscribers), "--period", "2026-10", "--seed", "11")
    summary = run_json(env, "--period", "2026-10", "--no-wait", INVOICING_BATCH_SIZE=str(batch_size))
    return env, summary["run_id"]


def test_two_workers_in_folders_of_their_own_share_nothing_but_s3(
    pg_env: Env, workers: Workers, s3_server: SeaweedS3, monkeypatch: pytest.MonkeyPatch
) -> None:
    # given PostgreSQL, Redis and S3 as the only things the CLI and two workers share
    env, run_id = dispatched_on_s3(workers, s3_server, monkeypatch, subscribers=16, batch_size=4)
    folders = [env.path / "host-a", env.path / "host-b"]
    with invoice_writes_held(env.vars["INVOICING_DATABASE_URL"]):
        for folder in folders:
            (folder / "tmp").mkdir(parents=True)
            workers.start(count=1, concurrency=1, cwd=folder, TMPDIR=str(folder / "tmp"))
        # both render: each holds a batch (rendered and uploaded, not yet recorded)
        for index in range(2):
            assert len(workers.held_batches(index)) == 1
    # when the run is rendered and merged by them
    status = wait_for_final_status(env, run_id, 180)
    # then every invoice is on S3 once, checked against its row, and so is the merged file
    assert status["status"] == "completed", (status, workers.log_text()[-3000:])
    assert_s3_run_consistent(s3_server, summary_of(status), 16)
    # and nothing was left on any disk: not in the workers' folders, not beside the CLI
    assert [files_below(folder) for folder in folders] == [[], []]
    assert not (env.path / "output").exists()


def test_s3_restarted_mid_run_loses_nothing(
    workers: Workers, own_s3: SeaweedS3, monkeypatch: pytest.MonkeyPatch
) -> None:
    env, run_id = dispatched_on_s3(workers, own_s3, monkeypatch, subscribers=12, batch_size=2)
    with invoice_writes_held(env.vars["INVOICING_DATABASE_URL"]):
        workers.start(count=1, concurrency=2)
        # when S3 goes away while both pool processes hold a batch (uploaded, not recorded)
        assert len(workers.held_batches(0)) == 2
        own_s3.stop()
    # and comes back once a batch found it gone and is waiting to try again
    workers.wait_for_log("transient error, retrying", timeout=120)
    own_s3.start()
    # then the retried batches find it back and the run completes by itself
    status = wait_for_final_status(env, run_id, 240)
    assert status["status"] == "completed", (status, workers.log_text()[-3000:])
    # and nothing was lost: every invoice in the merged file exactly once
    assert_s3_run_consistent(own_s3, summary_of(status), 12)
    assert "cannot reach" in workers.log_text()


def test_a_store_lost_after_the_preflight_is_one_line_naming_the_object(
    env: Env, own_s3: SeaweedS3, monkeypatch: pytest.MonkeyPatch
) -> None:
    # given a run whose invoices are on S3
    output = use_s3(env, own_s3)
    env.apply(monkeypatch)
    env.invoke("db", "init")
    env.invoke("db", "seed", "--generate", "2", "--period", "2026-10", "--seed", "11")
    run_id = run_json(env, "--period", "2026-10")["run_id"]
    # when S3 goes away and `export` runs: its preflight is the database's, and the
    # store is first touched when the first invoice is read
    own_s3.stop()
    zip_path = env.path / "run.zip"
    proc = env.cli("export", str(run_id), "-o", str(zip_path))
    # then the StorageError is one line naming the object, exit 1, and nothing is written
    endpoint = env.vars["AWS_ENDPOINT_URL"]
    assert (proc.returncode, proc.stdout) == (1, ""), proc.stderr
    assert proc.stderr.splitlines() == [
        f"invoicing: error: storage: {output}/2026-10/INV-2026-10-000001.pdf: cannot reach {endpoint}"
    ]
    assert env.vars["AWS_SECRET_ACCESS_KEY"] not in proc.stderr
    assert not zip_path.exists() and list(env.path.glob("*.zip*")) == []


def test_a_bucket_that_refuses_writes_fails_the_invoices_with_the_reason(
    env: Env, s3_server: SeaweedS3, monkeypatch: pytest.MonkeyPatch
) -> None:
    # given a bucket whose policy refuses the writes of invoices 1 to 9
    output = use_s3(env, s3_server, WRITER)
    env.apply(monkeypatch)
    env.invoke("db", "init")
    env.invoke("db", "seed", "--fixtures", str(FIXTURES))
    with writes_refused(s3_server, f"{output}/2026-10/INV-2026-10-00000*"):
        # when the run is started: the bucket is there and answers, so it is dispatched
        summary = run_json(env, "--period", "2026-10", expect=3)
    # then those invoices failed, naming the object and S3's refusal; the run went on
    # and the merged file holds the other ten
    assert (summary["status"], summary["failed"]) == ("completed_with_errors", 9)
    assert_s3_run_consistent(s3_server, summary, 19)
    status = json.loads(env.invoke("status", str(summary["run_id"]), "--json").stdout)
    assert [f["number"] for f in status["failures"]] == [f"INV-2026-10-{n:06d}" for n in range(1, 10)]
    assert status["failures"][0]["error"] == (
        f"cannot write the PDF: {output}/2026-10/INV-2026-10-000001.pdf: AccessDenied (Access Denied.)"
    )
    human = env.invoke("status")
    assert human.exit_code == 3 and "AccessDenied" in human.stdout
    assert WRITER[1] not in human.stdout + human.stderr
    # and once the bucket takes them, `retry` completes the run
    retried = env.invoke("retry", str(summary["run_id"]), "--json")
    assert retried.exit_code == 0, retried.stderr
    assert_s3_run_consistent(s3_server, json.loads(retried.stdout), 19)


def test_render_merge_status_retry_and_reconciler_read_and_write_s3(
    s3_env: Env, s3_server: SeaweedS3, tmp_path: Path
) -> None:
    env = s3_env
    output = env.vars["INVOICING_OUTPUT_DIR"]
    env.invoke("db", "init")
    env.invoke("db", "seed", "--fixtures", str(FIXTURES))
    summary = run_json(env, "--period", "2026-10")
    stored = assert_s3_run_consistent(s3_server, summary, 19)
    first = f"{output}/2026-10/INV-2026-10-000001.pdf"
    # render -o writes the stored invoice, byte for byte
    rendered = env.invoke(
        "render", "--account", "A-0001", "--period", "2026-10", "-o", str(tmp_path / "one.pdf")
    )
    assert rendered.exit_code == 0, rendered.stderr
    assert (tmp_path / "one.pdf").read_bytes() == stored[first]
    # merge -o merges stored invoices in the order given
    merged = env.invoke(
        "merge", "--accounts", "A-0003,A-0001", "--period", "2026-10", "-o", str(tmp_path / "m.pdf")
    )
    assert merged.exit_code == 0, merged.stderr
    titles = [item.title for item in PdfReader(tmp_path / "m.pdf").outline]
    assert [t.split(" — ")[0] for t in titles] == ["INV-2026-10-000003", "INV-2026-10-000001"]
    # status and the runs table name the objects
    assert (
        json.loads(env.invoke("status", str(summary["run_id"]), "--json").stdout)["output"]
        == summary["output"]
    )
    table = env.invoke("runs")
    assert (
        f"files under {output}" in table.stdout
        and f"2026-10/billing-run-{summary['run_id']}.pdf" in table.stdout
    )
    # retry puts back a lost invoice and a lost merged file, the same bytes
    client = s3_server.client()
    for location in (first, summary["output"]):
        client.delete_object(Bucket=BUCKET, Key=location.removeprefix(f"s3://{BUCKET}/"))
    retried = env.invoke("retry", str(summary["run_id"]), "--json")
    assert retried.exit_code == 0, retried.stderr
    assert json.loads(retried.stdout)["sha256"] == summary["sha256"]
    again = objects(s3_server, f"{output}/2026-10")
    assert again[first] == stored[first] and again[summary["output"]] == stored[summary["output"]]
    # render -o never hands out an object whose sha256 differs: it renders the invoice again
    client.put_object(Bucket=BUCKET, Key=first.removeprefix(f"s3://{BUCKET}/"), Body=b"%PDF-1.7 other")
    env.invoke("render", "--account", "A-0001", "--period", "2026-10", "-o", str(tmp_path / "again.pdf"))
    assert (tmp_path / "again.pdf").read_bytes() == stored[first]
    # the reconciler resumes a stalled run whose invoice lost its object
    client.delete_object(Bucket=BUCKET, Key=first.removeprefix(f"s3://{BUCKET}/"))
    from invoicing.config import get_settings
    from invoicing.run.dispatch import reconcile
    from invoicing.run.runtime import workers

    with session_scope() as session:
        session.execute(
            update(BillingRun).values(
                status=RunStatus.RENDERING,
                dispatched_by="celery:gone",
                created_at=datetime.now(UTC) - timedelta(hours=2),
                dispatched_at=datetime.now(UTC) - timedelta(hours=2),
                finished_at=None,
            )
        )
        session.execute(update(Invoice).values(rendered_at=datetime.now(UTC) - timedelta(hours=2)))
    with workers(get_settings()):
        started = reconcile()
        assert [(s.run_id, s.action, s.dispatched) for s in started] == [(summary["run_id"], "resumed", 1)]
        final = wait_for_final_status(env, summary["run_id"], 120)
    assert final["status"] == "completed" and final["sha256"] == summary["sha256"]
    assert objects(s3_server, f"{output}/2026-10")[first] == stored[first]


BAD_SETTINGS = [
    ("s3://", {}, 2, "INVOICING_OUTPUT_DIR: 's3://' names no bucket (like s3://invoices/billing)"),
    ("s3:///billing", {}, 2, "names no bucket"),
    ("s3://Not_A_Bucket/x", {}, 2, "is not a valid S3 bucket name"),
    ("s3://no-such-bucket/x", {}, 2, "no bucket 'no-such-bucket' at http://127.0.0.1:"),
    (
        "s3://invoices/x",
        {"AWS_SECRET_ACCESS_KEY": "wrong-secret-1e7c"},
        2,
        "access denied by http://127.0.0.1:",
    ),
    ("s3://invoices/x", {"AWS_ACCESS_KEY_ID": "nobody-3b1a"}, 2, "access denied by http://127.0.0.1:"),
    # An endpoint that drops every connection (a cut TcpProxy, which counts them).
    ("s3://invoices/x", {"AWS_ENDPOINT_URL": "dropping"}, 1, "cannot reach http://127.0.0.1:"),
]


def test_bad_s3_settings_are_refused_before_anything_is_dispatched(env: Env, s3_server: SeaweedS3) -> None:
    env.invoke("db", "init")
    env.invoke("db", "seed", "--fixtures", str(FIXTURES))
    dropping = TcpProxy(free_port())
    dropping.cut()
    try:
        for output, aws, code, message in BAD_SETTINGS:
            variables = s3_server.environment(ADMIN) | aws | {"INVOICING_OUTPUT_DIR": output}
            if aws.get("AWS_ENDPOINT_URL") == "dropping":
                variables["AWS_ENDPOINT_URL"] = f"http://127.0.0.1:{dropping.port}"
            for args in (
                ["run", "--period", "2026-10"],
                ["retry", "1"],
                ["render", "--account", "A-0001", "--period", "2026-10", "-o", str(env.path / "x.pdf")],
                ["merge", "--accounts", "A-0001", "--period", "2026-10", "-o", str(env.path / "x.pdf")],
            ):
                attempts = dropping.accepted
                result = env.invoke(*args, **variables)
                said = result.stdout + result.stderr
                assert result.exit_code == code, (output, aws, args, said)
                assert result.stdout == "" and len(result.stderr.splitlines()) == 1, said
                assert result.stderr.startswith("invoicing: error: ") and message in result.stderr, said
                assert ADMIN[1] not in said and variables["AWS_SECRET_ACCESS_KEY"] not in said
                if aws.get("AWS_ENDPOINT_URL") == "dropping":  # one attempt, no retries
                    assert dropping.accepted - attempts == 1, args
    finally:
        dropping.close()
    # nothing was issued, dispatched or written
    assert count_rows(BillingRun) == 0 and count_rows(Invoice) == 0
    assert not (env.path / "x.pdf").exists() and not (env.path / "output").exists()


def test_a_large_object_is_a_multipart_upload_visible_only_once_complete(
    s3_env: Env, s3_server: SeaweedS3
) -> None:
    from invoicing.config import get_settings
    from invoicing.storage import store_for
    from invoicing.storage.s3 import PART_SIZE

    store = store_for(get_settings())
    client = s3_server.client()
    # when a merged-file-sized stream is written: three parts, the last a short one
    location = store.join("2026-10", "big.pdf")
    digest = hashlib.sha256()
    with store.writer(location) as handle:
        for i in range(2 * PART_SIZE // (1 << 20) + 1):
            block = bytes([i]) * (1 << 20)
            handle.write(block)
            digest.update(block)
        # then the parts went up as they filled (an upload is open), while nothing is
        # visible under the name before the upload completes
        key = location.removeprefix(f"s3://{BUCKET}/")
        uploads = client.list_multipart_uploads(Bucket=BUCKET).get("Uploads") or []
        assert [u["Key"] for u in uploads if u["Key"] == key] == [key]
        assert not store.exists(location)
    assert client.head_object(Bucket=BUCKET, Key=key)["ContentLength"] == 2 * PART_SIZE + (1 << 20)
    assert store.sha256(location) == digest.hexdigest()
    # and a stream that fails is aborted: no object, no upload left open
    broken = store.join("2026-10", "broken.pdf")
    with pytest.raises(RuntimeError), store.writer(broken) as handle:
        handle.write(b"x" * (PART_SIZE + 1))
        raise RuntimeError("the merge failed")
    assert not store.exists(broken)
    uploads = client.list_multipart_uploads(Bucket=BUCKET).get("Uploads") or []
    assert [u for u in uploads if u["Key"] == broken.removeprefix(f"s3://{BUCKET}/")] == []


@pytest.mark.parametrize("where", ["local", pytest.param("s3", marks=pytest.mark.s3)])
def test_a_runs_earlier_volumes_are_listed_by_their_name_alone(
    where: str, env: Env, request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> None:
    # given a period's folder holding run 1's volumes beside its invoices, run 1's one
    # file, run 12's volumes and a sub-folder named like a volume
    if where == "s3":
        use_s3(env, request.getfixturevalue("s3_server"))
    env.apply(monkeypatch)
    store = store_for(get_settings())
    folder = f"{get_settings().output_dir}/2026-10"
    names = ["INV-2026-10-000001.pdf", "billing-run-1.pdf", "billing-run-12-vol-001.pdf"]
    names += [f"billing-run-1-vol-{n:03d}.pdf" for n in (2, 1, 3)] + ["billing-run-1-vol-004.pdf/x.pdf"]
    for name in names:
        with store.writer(f"{folder}/{name}") as handle:
            handle.write(b"%PDF-1.7")
    # when the volumes of run 1's merged file are listed
    listed = earlier_volumes(store, f"{folder}/billing-run-1.pdf")
    # then exactly its own, in order: not run 12's, not the invoices, not the sub-folder
    assert listed == [f"{folder}/billing-run-1-vol-{n:03d}.pdf" for n in (1, 2, 3)]


def test_print_volumes_manifest_and_export_on_s3(s3_env: Env, s3_server: SeaweedS3, tmp_path: Path) -> None:
    # given the fixtures' one-page invoices, merged duplex in volumes of at most 8 pages on S3
    env = s3_env
    env.invoke("db", "init")
    env.invoke("db", "seed", "--fixtures", str(FIXTURES))
    summary = run_json(env, "--period", "2026-10", INVOICING_PRINT_DUPLEX="1", INVOICING_VOLUME_MAX_PAGES="8")
    folder = summary["output"].rsplit("/", 1)[0]
    stored = objects(s3_server, folder)
    run = f"billing-run-{summary['run_id']}"
    # then each volume is an object of its own: four padded invoices each, 19 in all
    volumes = summary["volumes"]
    assert [v["output"] for v in volumes] == [f"{folder}/{run}-vol-{n:03d}.pdf" for n in range(1, 6)]
    assert [v["invoices"] for v in volumes] == [4, 4, 4, 4, 3]
    for volume in volumes:
        data = stored[volume["output"]]
        assert hashlib.sha256(data).hexdigest() == volume["sha256"]
        reader = PdfReader(io.BytesIO(data))
        assert len(reader.pages) == volume["pages"] == 2 * volume["invoices"]
        assert [reader.get_destination_page_number(item) for item in reader.outline] == list(
            range(0, volume["pages"], 2)
        )
    assert f"{folder}/{run}.pdf" not in stored  # volumes instead of the one file
    # and the job ticket lies beside them, naming each volume's object
    ticket = json.loads(stored[f"{folder}/{run}-manifest.json"])
    assert [v["file"] for v in ticket["volumes"]] == [v["output"].rsplit("/", 1)[1] for v in volumes]
    assert len(ticket["invoices"]) == 19 and ticket["sheets"] == 19
    assert stored[f"{folder}/{run}-manifest.csv"].decode().count("\r\n") == 20
    # and the export reads the invoices from S3, each checked against its sha256
    exported = env.invoke("export", str(summary["run_id"]), "-o", str(tmp_path / "run.zip"), "--json")
    assert exported.exit_code == 0, exported.stderr
    with zipfile.ZipFile(tmp_path / "run.zip") as archive:
        index = list(csv.DictReader(io.TextIOWrapper(archive.open("index.csv"), encoding="utf-8")))
        assert len(index) == 19
        for row in index:
            data = archive.read(row["file"])
            assert hashlib.sha256(data).hexdigest() == row["sha256"]
            assert data == stored[f"{folder}/{row['file']}"]
