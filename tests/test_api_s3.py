"""The API's files streamed from the bucket: with INVOICING_OUTPUT_DIR=s3://..., the merged
file comes from S3 with its sha256 as ETag and byte ranges, as from a local folder."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.envs import Env
from tests.support.factories import seed_fixtures
from tests.support.s3 import SeaweedS3, objects
from tests.support.server import Server, make_token, wait_for_run


@pytest.fixture
def served_from_s3(s3_env: Env) -> Iterator[tuple[Server, str]]:
    seed_fixtures(s3_env)
    token = make_token(s3_env, "erp", "write")
    server = Server(s3_env).start()
    yield server, token
    server.stop()


def test_a_range_of_the_merged_file_comes_from_the_bucket(
    served_from_s3: tuple[Server, str], s3_server: SeaweedS3
) -> None:
    # given October's run, merged into the bucket
    server, token = served_from_s3
    with server.client(token) as client:
        run = wait_for_run(client, client.post("/runs", json={"period": "2026-10"}).json()["run_id"])
        stored = objects(s3_server, run["output"].rsplit("/", 1)[0])[run["output"]]
        name = run["output"].rsplit("/", 1)[1]
        # when
        response = client.get(f"/runs/{run['run_id']}/files/{name}", headers={"Range": "bytes=1000-2999"})
    # then
    assert (response.status_code, response.content, response.headers["etag"]) == (
        206,
        stored[1000:3000],
        f'"{run["sha256"]}"',
    )
