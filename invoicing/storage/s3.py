"""The output storage on S3 or an S3-compatible server (AWS, MinIO, SeaweedFS), through boto3.

Endpoint, region and credentials come from boto3's standard chain (AWS_ENDPOINT_URL,
AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_PROFILE, AWS_DEFAULT_REGION, ~/.aws/...):
nothing here reads or prints them. Errors name the object and S3's error code only.

An object is visible whole or not at all (S3 has no partial PUT), so a batch's
invoices are put one by one, each visible once its PUT succeeded, and only then are the
rows saying so committed. The merged file is one multipart upload streamed part by part
(never the whole file in memory) and aborted if the merge fails: S3 shows it only
once CompleteMultipartUpload succeeded.
"""

from __future__ import annotations

import hashlib
import io
import os
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from functools import partial
from typing import Any, BinaryIO, TypeVar, cast

from invoicing.errors import InvoicingError, UsageError
from invoicing.storage.base import Staged, Store
from invoicing.storage.errors import ChecksumMismatch, StorageError
from invoicing.storage.location import S3Location, parse_s3

T = TypeVar("T")

PART_SIZE = 8 << 20  # multipart part size (S3's minimum is 5 MiB for all but the last)
_UPLOADS = 8  # concurrent PUTs of one batch
# Error codes worth trying again (plus every 5xx): the server is busy or restarting.
_TRANSIENT_CODES = {
    "SlowDown",
    "Throttling",
    "ThrottlingException",
    "RequestTimeout",
    "RequestTimeoutException",
    "InternalError",
    "ServiceUnavailable",
    "OperationAborted",
}
_MISSING_CODES = {"NoSuchKey", "NotFound", "404", "NoSuchBucket"}


class S3Unreachable(InvoicingError):
    """The endpoint does not answer (exit code 1)."""


def _endpoint() -> str:
    """The endpoint for messages, masked: its URL may carry credentials (http://key:secret@host)."""
    from invoicing.config import redact

    url = os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get("AWS_ENDPOINT_URL")
    return redact(url) if url else "AWS S3"


def _describe(exc: BaseException, location: str) -> StorageError:
    """A boto3/botocore error as a StorageError: the object, S3's code and message, and
    whether trying again may work. Never the request (it carries the signature)."""
    from botocore import exceptions as bx

    if isinstance(exc, StorageError):
        return exc
    if isinstance(exc, bx.ClientError):
        error = exc.response.get("Error", {})
        code = str(error.get("Code") or "error")
        status = int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0)
        message = " ".join(str(error.get("Message") or "").split())
        if code.isdigit() and not message:
            message = {"403": "Forbidden", "404": "Not Found"}.get(code, f"HTTP {code}")
        transient = status >= 500 or code in _TRANSIENT_CODES
        text = f"{location}: {code}" + (f" ({message})" if message and message != code else "")
        return StorageError(text, transient=transient, missing=code in _MISSING_CODES)
    if isinstance(exc, bx.NoCredentialsError | bx.PartialCredentialsError):
        return StorageError(f"{location}: no AWS credentials (set AWS_ACCESS_KEY_ID or AWS_PROFILE)")
    if isinstance(exc, bx.EndpointConnectionError | bx.ConnectTimeoutError | bx.ConnectionClosedError):
        return StorageError(f"{location}: cannot reach {_endpoint()}", transient=True)
    if isinstance(exc, bx.ReadTimeoutError | bx.HTTPClientError):
        return StorageError(f"{location}: {_endpoint()} did not answer in time", transient=True)
    if isinstance(exc, bx.BotoCoreError):
        return StorageError(f"{location}: {type(exc).__name__}")
    if isinstance(exc, ConnectionError | TimeoutError):
        return StorageError(f"{location}: connection to {_endpoint()} lost", transient=True)
    raise exc


def _call(location: str, func: Callable[[], T]) -> T:
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        return func()
    except (BotoCoreError, ClientError, ConnectionError, TimeoutError) as exc:
        raise _describe(exc, location) from exc


def make_client(connect_timeout: float, attempts: int, read_timeout: float = 60.0) -> Any:
    import boto3
    from botocore.config import Config

    custom = bool(os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get("AWS_ENDPOINT_URL"))
    config = Config(
        connect_timeout=connect_timeout,
        read_timeout=read_timeout,
        retries={"total_max_attempts": attempts, "mode": "standard"},
        # S3-compatible servers on a host name or IP address of their own want path-style URLs.
        s3={"addressing_style": "path" if custom else "auto"},
        max_pool_connections=max(10, _UPLOADS + 2),
        # Checksums only where S3 requires them: not every S3-compatible server knows
        # the newer CRC headers, and the rows' sha256 is checked on every read anyway.
        request_checksum_calculation="when_required",
        response_checksum_validation="when_required",
    )
    return boto3.session.Session().client("s3", config=config)


class S3Staged(Staged):
    def __init__(self, store: S3Store) -> None:
        self.store = store
        self.items: dict[Any, tuple[str, bytes]] = {}

    def write(self, key: Any, location: str, data: bytes) -> None:
        self.items[key] = (location, data)

    def commit(self) -> dict[Any, OSError]:
        failed: dict[Any, OSError] = {}
        items, self.items = self.items, {}

        def put(entry: tuple[Any, tuple[str, bytes]]) -> tuple[Any, StorageError | None]:
            key, (location, data) = entry
            try:
                self.store.put(location, data)
            except StorageError as exc:
                return key, exc
            return key, None

        with ThreadPoolExecutor(max_workers=min(_UPLOADS, max(len(items), 1))) as pool:
            results = list(pool.map(put, items.items()))
        for key, error in results:
            if error is None:
                continue
            if error.transient:  # the server is away: retry the whole batch, not fail invoices
                raise error
            failed[key] = error
        return failed

    def discard(self) -> None:
        self.items.clear()


class _MultipartWriter(io.RawIOBase):
    """Writes go to parts of PART_SIZE uploaded as they fill; at most one part in memory."""

    def __init__(self, store: S3Store, location: str) -> None:
        self.store, self.location = store, location
        self.target = store.target(location)
        self.buffer = bytearray()
        self.upload_id: str | None = None
        self.parts: list[dict[str, Any]] = []

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        self.buffer += data
        while len(self.buffer) >= PART_SIZE:
            self._upload(bytes(self.buffer[:PART_SIZE]))
            del self.buffer[:PART_SIZE]
        return len(data)

    def _upload(self, chunk: bytes) -> None:
        client, bucket, key = self.store.client(), self.target.bucket, self.target.key
        if self.upload_id is None:
            created = _call(self.location, lambda: client.create_multipart_upload(Bucket=bucket, Key=key))
            self.upload_id = created["UploadId"]
        number = len(self.parts) + 1
        done = _call(
            self.location,
            lambda: client.upload_part(
                Bucket=bucket, Key=key, UploadId=self.upload_id, PartNumber=number, Body=chunk
            ),
        )
        self.parts.append({"ETag": done["ETag"], "PartNumber": number})

    def finish(self) -> None:
        if self.upload_id is None:  # small enough for one PUT
            self.store.put(self.location, bytes(self.buffer))
            return
        if self.buffer:
            self._upload(bytes(self.buffer))
            self.buffer.clear()
        client, bucket, key, upload_id = (
            self.store.client(),
            self.target.bucket,
            self.target.key,
            self.upload_id,
        )
        _call(
            self.location,
            lambda: client.complete_multipart_upload(
                Bucket=bucket, Key=key, UploadId=upload_id, MultipartUpload={"Parts": self.parts}
            ),
        )

    def abort(self) -> None:
        self.buffer.clear()
        if self.upload_id is not None:
            client, bucket, key, upload_id = (
                self.store.client(),
                self.target.bucket,
                self.target.key,
                self.upload_id,
            )
            try:
                client.abort_multipart_upload(Bucket=bucket, Key=key, UploadId=upload_id)
            except Exception:  # the server is away: its lifecycle rules clean up what is left
                pass


class S3Store(Store):
    def __init__(self, location: str, connect_timeout: float = 3.0) -> None:
        self.base = parse_s3(location)
        self.root = self.base.url
        self.connect_timeout = connect_timeout
        self._clients: dict[int, Any] = {}  # by process: a forked worker makes its own
        self._lock = threading.Lock()

    def client(self) -> Any:
        pid = os.getpid()
        client = self._clients.get(pid)
        if client is None:
            with self._lock:
                client = self._clients.get(pid)
                if client is None:
                    client = self._clients[pid] = make_client(self.connect_timeout, attempts=3)
        return client

    def target(self, location: str) -> S3Location:
        found = parse_s3(location)
        if not found.key:
            raise StorageError(f"{location}: names no object")
        return found

    def join(self, *names: str) -> str:
        return "/".join([self.root, *names])

    def put(self, location: str, data: bytes) -> None:
        target, client = self.target(location), self.client()
        _call(
            location,
            lambda: client.put_object(
                Bucket=target.bucket,
                Key=target.key,
                Body=data,
                ContentType="application/pdf" if target.key.endswith(".pdf") else "application/octet-stream",
            ),
        )

    def _get(self, location: str) -> Any:
        target, client = self.target(location), self.client()
        return _call(location, lambda: client.get_object(Bucket=target.bucket, Key=target.key))["Body"]

    def read(self, location: str, sha256: str | None = None) -> bytes:
        body = self._get(location)
        try:
            data = cast(bytes, _call(location, body.read))
        finally:
            body.close()
        if sha256 and hashlib.sha256(data).hexdigest() != sha256:
            raise ChecksumMismatch(f"{location}: sha256 differs from the one recorded")
        return data

    def open(self, location: str) -> BinaryIO:
        return cast(BinaryIO, self._get(location))

    def exists(self, location: str) -> bool:
        target, client = self.target(location), self.client()
        try:
            _call(location, lambda: client.head_object(Bucket=target.bucket, Key=target.key))
        except StorageError as exc:
            if exc.missing:
                return False
            raise
        return True

    def size(self, location: str) -> int | None:
        target, client = self.target(location), self.client()
        try:
            head = _call(location, lambda: client.head_object(Bucket=target.bucket, Key=target.key))
        except StorageError as exc:
            if exc.missing:
                return None
            raise
        return int(head["ContentLength"])

    def sha256(self, location: str) -> str | None:
        try:
            body = self._get(location)
        except StorageError as exc:
            if exc.missing:
                return None
            raise
        digest = hashlib.sha256()
        from botocore.exceptions import BotoCoreError

        try:
            for chunk in body.iter_chunks(1 << 20):
                digest.update(chunk)
        except (BotoCoreError, ConnectionError, TimeoutError) as exc:
            raise _describe(exc, location) from exc
        finally:
            body.close()
        return digest.hexdigest()

    def staged(self) -> Staged:
        return S3Staged(self)

    @contextmanager
    def writer(self, location: str) -> Iterator[BinaryIO]:
        upload = _MultipartWriter(self, location)
        try:
            yield cast(BinaryIO, upload)
            upload.finish()
        except BaseException:
            upload.abort()
            raise

    def _keys(self, prefix: str, start: str = "") -> Iterator[str]:
        base = parse_s3(prefix)
        client = self.client()
        pages = client.get_paginator("list_objects_v2").paginate(
            Bucket=base.bucket, Prefix=(base.key + "/" if base.key else "") + start
        )
        for page in _call(prefix, lambda: list(pages)):
            for item in page.get("Contents", []):
                yield str(item["Key"])

    def list(self, prefix: str, suffix: str = "", start: str = "") -> list[str]:
        base = parse_s3(prefix)
        folder = base.key + "/" if base.key else ""
        return sorted(
            f"s3://{base.bucket}/{key}"
            for key in self._keys(prefix, start)
            if "/" not in key[len(folder) :] and key.endswith(suffix)
        )

    def remove(self, location: str) -> None:
        target, client = self.target(location), self.client()
        _call(location, lambda: client.delete_object(Bucket=target.bucket, Key=target.key))

    def remove_tree(self, prefix: str) -> None:
        base = parse_s3(prefix)
        try:
            keys = list(self._keys(prefix))
            client = self.client()
            for start in range(0, len(keys), 1000):
                delete = {"Objects": [{"Key": key} for key in keys[start : start + 1000]]}
                _call(prefix, partial(client.delete_objects, Bucket=base.bucket, Delete=delete))
        except StorageError:
            pass  # best effort: left-over fragments are only used when their sha256 matches

    def check(self) -> None:
        """HEAD the bucket with one attempt and short timeouts (no retry loop to wait through)."""
        from botocore.exceptions import BotoCoreError, ClientError

        client = make_client(self.connect_timeout, attempts=1, read_timeout=self.connect_timeout)
        where = f"INVOICING_OUTPUT_DIR {self.root}"
        try:
            client.head_bucket(Bucket=self.base.bucket)
        except (BotoCoreError, ClientError) as exc:
            error = _describe(exc, where)
            code = exc.response.get("Error", {}).get("Code") if isinstance(exc, ClientError) else None
            if code in ("404", "NoSuchBucket"):
                raise UsageError(f"{where}: no bucket {self.base.bucket!r} at {_endpoint()}") from None
            if code in ("403", "AccessDenied", "InvalidAccessKeyId", "SignatureDoesNotMatch"):
                raise UsageError(
                    f"{where}: access denied by {_endpoint()}: check the AWS credentials "
                    "(AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY or AWS_PROFILE) and the bucket's policy"
                ) from None
            if error.transient:
                raise S3Unreachable(str(error)) from None
            raise UsageError(str(error)) from None
        finally:
            client.close()
