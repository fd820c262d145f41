"""The HTTP API from the outside: `invoicing serve` started by the test on the embedded
default (SQLite, in-process worker), a real HTTP client, the fixtures' October run
started through POST /runs; every endpoint and its error answers."""

from __future__ import annotations

import hashlib
import io
import json
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from pypdf import PdfReader

from tests.support import envs
from tests.support.factories import seed_fixtures
from tests.support.server import Server, make_token, rows_in, wait_for_run


class Api:
    def __init__(self, server: Server, write: str, read: str, run: dict[str, Any]) -> None:
        self.server, self.write_token, self.read_token, self.run = server, write, read, run
        self.env = server.env
        self.writer = server.client(write)
        self.reader = server.client(read)
        self.anonymous = server.client()


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api]:
    """The fixtures, a write and a read token, a server (uploads up to 1 MiB) and the
    October run, started through the API and complete."""
    env = envs.embedded(tmp_path_factory.mktemp("api"))
    seed_fixtures(env)
    write, read = make_token(env, "erp", "write"), make_token(env, "grafana", "read")
    server = Server(env, {"INVOICING_API_MAX_UPLOAD_MB": "1"}).start()
    try:
        with server.client(write) as client:
            started = client.post("/runs", json={"period": "2026-10"})
            assert started.status_code == 202, started.text
            run = wait_for_run(client, started.json()["run_id"])
        assert run["status"] == "completed", run
        yield Api(server, write, read, run)
    finally:
        server.stop()


def error_of(response: httpx.Response) -> str:
    assert response.headers["content-type"] == "application/json", response.text
    return str(response.json()["error"])


# --- the service ---------------------------------------------------------------------


def test_health_needs_no_token(api: Api) -> None:
    # when / then
    assert api.anonymous.get("/health").json() == {"status": "ok"}


def test_the_openapi_document_names_every_endpoint(api: Api) -> None:
    # when
    paths = api.anonymous.get("/openapi.json").json()["paths"]
    # then
    assert set(paths) >= {
        "/health",
        "/runs",
        "/runs/{run_id}",
        "/runs/{run_id}/retry",
        "/runs/{run_id}/files/{name}",
        "/runs/{run_id}/export.zip",
        "/invoices/{number}",
        "/invoices/{number}.pdf",
        "/invoices/{number}/credit-notes",
        "/imports",
        "/metrics",
    }


# --- tokens ----------------------------------------------------------------------------


def test_a_request_without_a_token_is_401_with_a_bearer_challenge(api: Api) -> None:
    # when
    response = api.anonymous.get("/runs")
    # then
    assert (response.status_code, response.headers["www-authenticate"]) == (401, 'Bearer realm="invoicing"')
    assert "Authorization: Bearer" in error_of(response)


def test_an_unknown_token_is_401(api: Api) -> None:
    # when
    response = api.server.client("inv_" + "x" * 43).get("/runs")
    # then
    assert (response.status_code, error_of(response)) == (401, "unknown or revoked token")


def test_a_revoked_token_is_401(api: Api) -> None:
    # given a token that worked, then was revoked
    token = make_token(api.env, "leaver", "read")
    with api.server.client(token) as client:
        assert client.get("/runs").status_code == 200
        api.env.cli("token", "revoke", "leaver", check=True)
        # when
        response = client.get("/runs")
    # then
    assert (response.status_code, error_of(response)) == (401, "unknown or revoked token")


def test_a_read_token_on_a_write_endpoint_is_403(api: Api) -> None:
    # when
    response = api.reader.post("/runs", json={"period": "2026-10"})
    # then
    assert (response.status_code, error_of(response)) == (
        403,
        "token 'grafana' may only read; this needs a write token",
    )


def test_a_token_in_the_query_string_is_refused_even_with_the_header(api: Api) -> None:
    # when
    response = api.reader.get("/runs", params={"access_token": api.read_token})
    # then
    assert response.status_code == 400 and "revoke it" in error_of(response)


def test_tokens_never_reach_the_log(api: Api) -> None:
    # given requests carrying the tokens in the header, and one in a URL
    api.reader.get("/runs")
    api.writer.get("/runs/1")
    api.anonymous.get(f"/runs?token={api.write_token}")
    # when
    log = api.server.log()
    # then
    assert "GET /runs 400" in log and api.write_token not in log and api.read_token not in log


# --- runs ------------------------------------------------------------------------------


def test_a_run_is_what_status_json_prints(api: Api) -> None:
    # given
    run_id = api.run["run_id"]
    status = json.loads(api.env.cli("status", str(run_id), "--json").stdout)
    # when
    shown = api.reader.get(f"/runs/{run_id}").json()
    # then
    assert shown == status


def test_runs_lists_the_run(api: Api) -> None:
    # when
    runs = api.reader.get("/runs", params={"limit": 50}).json()["runs"]
    # then
    assert api.run["run_id"] in [run["run_id"] for run in runs]


def test_an_unknown_run_is_404(api: Api) -> None:
    # when
    response = api.reader.get("/runs/4242")
    # then
    assert (response.status_code, error_of(response)) == (404, "no billing run 4242")


def test_the_same_idempotency_key_and_body_replay_the_answer_and_start_nothing(api: Api) -> None:
    # given a dry run answered once under a key
    body = {"period": "2026-11", "dry_run": True}
    first = api.writer.post("/runs", json=body, headers={"Idempotency-Key": "plan-2026-11"})
    # when the same request is sent again
    again = api.writer.post("/runs", json=body, headers={"Idempotency-Key": "plan-2026-11"})
    # then it is the recorded answer, said to be a replay
    assert (again.status_code, again.json(), again.headers["idempotent-replayed"]) == (
        first.status_code,
        first.json(),
        "true",
    )


def test_the_same_idempotency_key_with_another_body_is_422(api: Api) -> None:
    # given
    api.writer.post(
        "/runs", json={"period": "2026-11", "dry_run": True}, headers={"Idempotency-Key": "k-other"}
    )
    # when
    response = api.writer.post(
        "/runs", json={"period": "2026-12", "dry_run": True}, headers={"Idempotency-Key": "k-other"}
    )
    # then
    assert response.status_code == 422 and "used for another request" in error_of(response)


def test_a_key_is_the_tokens_own(api: Api) -> None:
    # given a key another write token used for a dry run of November
    other = make_token(api.env, "crm", "write")
    with api.server.client(other) as client:
        client.post(
            "/runs", json={"period": "2026-11", "dry_run": True}, headers={"Idempotency-Key": "shared"}
        )
    # when this token sends another request under the same key
    response = api.writer.post(
        "/runs", json={"period": "2026-12", "dry_run": True}, headers={"Idempotency-Key": "shared"}
    )
    # then it is answered for itself
    assert response.status_code == 200 and response.json()["period"] == "2026-12"


def test_retry_of_a_complete_run_merges_nothing_again(api: Api) -> None:
    # when
    response = api.writer.post(f"/runs/{api.run['run_id']}/retry")
    # then
    assert (response.status_code, response.json()["action"]) == (200, "complete")


def test_a_period_that_has_not_ended_is_refused_without_force(api: Api) -> None:
    # when
    response = api.writer.post("/runs", json={"period": "2099-01"})
    # then
    assert response.status_code == 422 and "force_period" in error_of(response)


# --- files -----------------------------------------------------------------------------


def merged(api: Api) -> tuple[str, bytes]:
    output = api.run["output"]
    return Path(output).name, Path(output).read_bytes()


def test_the_merged_file_is_the_recorded_bytes_with_its_sha256_as_etag(api: Api) -> None:
    # given
    name, data = merged(api)
    # when
    response = api.reader.get(f"/runs/{api.run['run_id']}/files/{name}")
    # then
    assert (response.content, response.headers["etag"]) == (data, f'"{api.run["sha256"]}"')
    assert len(PdfReader(io.BytesIO(response.content)).pages) == 19


def test_a_range_request_gets_those_bytes(api: Api) -> None:
    # given
    name, data = merged(api)
    # when
    response = api.reader.get(f"/runs/{api.run['run_id']}/files/{name}", headers={"Range": "bytes=100-1099"})
    # then
    assert (response.status_code, response.content, response.headers["content-range"]) == (
        206,
        data[100:1100],
        f"bytes 100-1099/{len(data)}",
    )


def test_a_suffix_range_gets_the_end_of_the_file(api: Api) -> None:
    # given
    name, data = merged(api)
    # when
    response = api.reader.get(f"/runs/{api.run['run_id']}/files/{name}", headers={"Range": "bytes=-64"})
    # then
    assert (response.status_code, response.content) == (206, data[-64:])


def test_a_range_outside_the_file_is_416(api: Api) -> None:
    # given
    name, data = merged(api)
    # when
    response = api.reader.get(
        f"/runs/{api.run['run_id']}/files/{name}", headers={"Range": f"bytes={len(data)}-"}
    )
    # then
    assert (response.status_code, response.headers["content-range"]) == (416, f"bytes */{len(data)}")


def test_if_none_match_with_the_etag_is_304(api: Api) -> None:
    # given
    name, _ = merged(api)
    # when
    response = api.reader.get(
        f"/runs/{api.run['run_id']}/files/{name}", headers={"If-None-Match": f'"{api.run["sha256"]}"'}
    )
    # then
    assert (response.status_code, response.content) == (304, b"")


def test_the_manifest_is_served_beside_the_merged_file(api: Api) -> None:
    # given
    name, _ = merged(api)
    manifest = name.removesuffix(".pdf") + "-manifest.json"
    # when
    response = api.reader.get(f"/runs/{api.run['run_id']}/files/{manifest}")
    # then
    assert response.content == (Path(api.run["output"]).parent / manifest).read_bytes()


def test_the_export_holds_every_invoice_and_the_index(api: Api) -> None:
    # when
    response = api.reader.get(f"/runs/{api.run['run_id']}/export.zip")
    # then
    names = zipfile.ZipFile(io.BytesIO(response.content)).namelist()
    # (with any credit note another test issued on one of them beside its invoice)
    invoices = sorted(n for n in names if n.startswith("INV-") and n.endswith(".pdf"))
    assert invoices == [f"INV-2026-10-{seq:06d}.pdf" for seq in range(1, 20)] and "index.csv" in names


# --- invoices and credit notes ------------------------------------------------------------


def test_an_invoice_is_its_data_as_issued(api: Api) -> None:
    # when
    invoice = api.reader.get("/invoices/INV-2026-10-000001").json()
    # then
    assert (invoice["account"], invoice["status"], invoice["currency"], invoice["period"]) == (
        "A-0001",
        "rendered",
        "EUR",
        "2026-10",
    )


def test_an_invoice_pdf_is_the_recorded_bytes(api: Api) -> None:
    # given
    recorded = api.reader.get("/invoices/INV-2026-10-000002").json()["sha256"]
    # when
    response = api.reader.get("/invoices/INV-2026-10-000002.pdf")
    # then
    assert hashlib.sha256(response.content).hexdigest() == recorded
    assert response.headers["content-type"] == "application/pdf"


def test_a_credit_note_is_issued_and_rendered(api: Api) -> None:
    # when
    response = api.writer.post(
        "/invoices/INV-2026-10-000003/credit-notes", json={"amount": "5.00", "reason": "Roaming outage"}
    )
    # then
    assert response.status_code == 201, response.text
    note = response.json()
    assert (note["invoice"], note["amount"]) == ("INV-2026-10-000003", "5.00")
    wait_for_run(api.reader, note["run_id"])
    assert api.reader.get(f"/invoices/{note['number']}").json()["status"] == "rendered"


def test_a_credit_note_amount_that_is_no_amount_is_422_and_issues_nothing(api: Api) -> None:
    # given
    before = rows_in(api.env, "invoices")
    # when
    response = api.writer.post("/invoices/INV-2026-10-000004/credit-notes", json={"amount": "1e3"})
    # then
    assert response.status_code == 422 and "not an amount: '1e3'" in response.json()["problems"][0]
    assert rows_in(api.env, "invoices") == before


def test_a_credit_note_beyond_what_is_left_is_422(api: Api) -> None:
    # when
    response = api.writer.post("/invoices/INV-2026-10-000005/credit-notes", json={"amount": "99999.00"})
    # then
    assert response.status_code == 422 and "exceeds what is left to credit" in error_of(response)


# --- imports -----------------------------------------------------------------------------


def test_an_import_is_an_upsert(api: Api) -> None:
    # given a new subscriber
    data = {
        "subscribers": [
            {
                "account": "A-9001",
                "name": "Ada Lovelace",
                "email": "ada@example.org",
                "address": ["1 Analytical Row", "London"],
                "country": "GB",
                "locale": "en_GB",
                "currency": "GBP",
                "tax_rate": "20",
                "plan": "basic-gbp",
                "active_from": "2026-01-01",
            }
        ]
    }
    # when
    response = api.writer.post(
        "/imports", content=json.dumps(data), headers={"Content-Type": "application/json"}
    )
    # then
    assert response.status_code == 200, response.text
    assert response.json()["subscribers"]["created"] == 1


def test_a_bad_csv_is_422_with_every_bad_row_and_imports_nothing(api: Api) -> None:
    # given a CSV with one good row and two bad ones
    before = rows_in(api.env, "charges")
    csv = (
        "id,account,period,description,quantity,unit_price\n"
        "web-1,A-0001,2026-11,Roaming,1,2.50\n"
        "web-2,A-0001,2026-13,Roaming,1,2.50\n"
        "web-3,A-0001,2026-11,Roaming,one,2.50\n"
    )
    # when
    response = api.writer.post("/imports", content=csv, headers={"Content-Type": "text/csv"})
    # then
    assert response.status_code == 422, response.text
    problems = response.json()["problems"]
    assert [problem.split(" (")[0] for problem in problems] == ["upload.csv line 3", "upload.csv line 4"]
    assert rows_in(api.env, "charges") == before


def test_an_upload_declared_too_large_is_413_before_its_body_is_sent(api: Api) -> None:
    # given a request that announces 60 MiB and sends none of it
    import http.client

    connection = http.client.HTTPConnection("127.0.0.1", api.server.port, timeout=30)
    connection.putrequest("POST", "/imports")
    for name, value in (
        ("Authorization", f"Bearer {api.write_token}"),
        ("Content-Type", "application/json"),
        ("Content-Length", str(60 * 2**20)),
    ):
        connection.putheader(name, value)
    connection.endheaders()
    # when
    response = connection.getresponse()
    # then the answer comes without the body having been read
    assert (response.status, json.loads(response.read())["error"]) == (
        413,
        "the upload is larger than INVOICING_API_MAX_UPLOAD_MB (1 MiB)",
    )
    connection.close()


def test_an_upload_without_a_length_is_cut_off_at_the_limit(api: Api) -> None:
    # given a chunked body of 2 MiB (the limit is 1 MiB)
    def chunks() -> Iterator[bytes]:
        yield b'{"charges": ['
        for _ in range(2 * 2**10):
            yield b" " * 1024
        yield b"]}"

    # when
    response = api.writer.post("/imports", content=chunks(), headers={"Content-Type": "application/json"})
    # then
    assert response.status_code == 413


def test_an_upload_of_another_type_is_415(api: Api) -> None:
    # when
    response = api.writer.post("/imports", content=b"<xml/>", headers={"Content-Type": "application/xml"})
    # then
    assert response.status_code == 415 and "application/json or text/csv" in error_of(response)


# --- metrics -----------------------------------------------------------------------------


def test_metrics_count_the_runs_by_status_and_kind(api: Api) -> None:
    # given the completed billing runs the API lists (October's, and any another test finished)
    runs = api.reader.get("/runs", params={"limit": 100}).json()["runs"]
    completed = [r for r in runs if (r["kind"], r["status"]) == ("billing", "completed")]
    # when
    text = api.reader.get("/metrics").text
    # then
    assert api.run["run_id"] in [r["run_id"] for r in completed]
    assert f'invoicing_runs{{kind="billing",status="completed"}} {float(len(completed))}' in text


def test_metrics_count_the_requests_by_route(api: Api) -> None:
    # given
    api.reader.get(f"/runs/{api.run['run_id']}")
    # when
    text = api.reader.get("/metrics").text
    # then
    assert 'invoicing_http_requests_total{method="GET",route="/runs/{run_id}",status="200"}' in text


def test_metrics_need_a_token(api: Api) -> None:
    # when / then
    assert api.anonymous.get("/metrics").status_code == 401


# --- bad input ---------------------------------------------------------------------------

TRAVERSALS = [
    "/runs/1/files/..%2F..%2F..%2Fetc%2Fpasswd",
    "/runs/1/files/%2e%2e",
    "/runs/1/files/..%5C..%5Cinvoicing.db",
    "/runs/1/files/billing-run-1.pdf%00.json",
    "/runs/..%2F1",
    "/runs/1%2F..%2F2/export.zip",
    "/invoices/..%2F..%2Finvoicing.db",
    "/invoices/..%2F..%2Finvoicing.pdf",
    "/invoices/%2e%2e/credit-notes",
]


@pytest.mark.parametrize("path", TRAVERSALS)
def test_path_traversal_is_a_clear_4xx(api: Api, path: str) -> None:
    # when
    method = "POST" if path.endswith("credit-notes") else "GET"
    response = api.writer.request(method, path, json={} if method == "POST" else None)
    # then
    assert 400 <= response.status_code < 500 and error_of(response), (path, response.status_code)


@pytest.mark.parametrize("run_id", ["abc", "1e3", "-1", "0", "1.5", "99999999999999999999", "1;DROP"])
def test_an_id_that_is_no_run_id_is_422(api: Api, run_id: str) -> None:
    # when
    response = api.reader.get(f"/runs/{run_id}")
    # then
    assert response.status_code == 422 and response.json()["problems"][0].startswith("path.run_id:")


def test_a_malformed_json_body_is_422(api: Api) -> None:
    # when
    response = api.writer.post(
        "/runs", content=b'{"period": "2026-10",', headers={"Content-Type": "application/json"}
    )
    # then
    assert response.status_code == 422 and response.json()["error"] == "invalid request"


def test_an_unknown_field_is_422(api: Api) -> None:
    # when
    response = api.writer.post("/runs", json={"period": "2026-10", "dryrun": True})
    # then
    assert response.status_code == 422 and response.json()["problems"] == [
        "dryrun: Extra inputs are not permitted"
    ]


SQL = "x'; DROP TABLE billing_runs; --"
INJECTIONS = [
    ("POST", "/runs", {"period": SQL}),
    ("POST", "/runs", {"period": "2026-10' OR '1'='1", "dry_run": True}),
    ("GET", "/invoices/INV' OR '1'='1", None),
    ("GET", "/invoices/INV-2026-10-000001%27%20OR%201=1.pdf", None),
    ("POST", "/invoices/INV-2026-10-000001/credit-notes", {"amount": "1 OR 1=1"}),
    ("POST", "/invoices/x%27%3B--/credit-notes", {"amount": "1.00"}),
    ("GET", "/runs?limit=1%3B%20DROP%20TABLE%20runs", None),
    ("GET", "/runs/1/files/x'%20OR%20'1'='1", None),
]


@pytest.mark.parametrize(("method", "path", "body"), INJECTIONS)
def test_sql_metacharacters_are_refused_and_change_nothing(
    api: Api, method: str, path: str, body: dict[str, Any] | None
) -> None:
    # given
    before = (rows_in(api.env, "billing_runs"), rows_in(api.env, "invoices"))
    # when
    response = api.writer.request(method, path, json=body)
    # then
    assert 400 <= response.status_code < 500 and error_of(response)
    assert (rows_in(api.env, "billing_runs"), rows_in(api.env, "invoices")) == before


def subscriber(account: str, name: str, address: list[str]) -> dict[str, Any]:
    return {
        "account": account,
        "name": name,
        "email": "bobby@example.org",
        "address": address,
        "country": "GB",
        "locale": "en_GB",
        "currency": "GBP",
        "tax_rate": "20",
        "plan": "basic-gbp",
        "active_from": "2026-01-01",
    }


def test_sql_metacharacters_in_imported_text_are_kept_as_text(api: Api) -> None:
    # given a subscriber whose name and address hold SQL
    before = rows_in(api.env, "subscribers")
    row = subscriber("A-9002", "Robert'); DROP TABLE invoices;--", ["1' OR '1'='1", "London"])
    # when
    response = api.writer.post("/imports", json={"subscribers": [row]})
    # then it is one more subscriber, and every table is still there
    assert response.json()["subscribers"]["created"] == 1, response.text
    assert (rows_in(api.env, "subscribers"), rows_in(api.env, "invoices") > 0) == (before + 1, True)


def test_sql_metacharacters_in_an_account_are_422(api: Api) -> None:
    # given
    row = subscriber("A-'; DROP TABLE subscribers; --", "Bobby", ["1 Road", "London"])
    # when
    response = api.writer.post("/imports", json={"subscribers": [row]})
    # then
    assert (
        response.status_code == 422 and "account: must be 1-64 characters" in response.json()["problems"][0]
    )


def test_two_requests_with_one_key_at_the_same_instant_start_one_run(api: Api) -> None:
    # given two clients released together, with one key, to start November
    import threading

    barrier = threading.Barrier(2)
    answers: list[httpx.Response] = []

    def send() -> None:
        with api.server.client(api.write_token) as client:
            barrier.wait(timeout=30)
            answers.append(
                client.post("/runs", json={"period": "2026-11"}, headers={"Idempotency-Key": "nov"})
            )

    threads = [threading.Thread(target=send) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    # when the run they started is finished
    started = [answer.json()["run_id"] for answer in answers if answer.status_code == 202]
    wait_for_run(api.reader, started[0])
    # then one run was started; the other request got that run, or 409 while it was answered
    runs = [
        run
        for run in api.reader.get("/runs", params={"limit": 100}).json()["runs"]
        if run["period"] == "2026-11"
    ]
    assert sorted(a.status_code for a in answers) in ([202, 202], [202, 409]) and len(set(started)) == 1
    assert [run["run_id"] for run in runs] == started[:1]
