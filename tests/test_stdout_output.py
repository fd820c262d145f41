"""`-o -`: render's and merge's PDF and export's ZIP go to standard output, alone (the
messages go to stderr), and no file named `-` appears; where that cannot work (a
terminal, or --json, which needs standard output too) one line refuses it."""

from __future__ import annotations

import io
import os
import pty
import subprocess
import zipfile
from pathlib import Path

from pypdf import PdfReader

from tests.support.envs import Env
from tests.support.factories import seed_fixtures
from tests.support.paths import BIN
from tests.support.runs import run_json


def binary(env: Env, *args: str) -> subprocess.CompletedProcess[bytes]:
    """`invoicing ARGS` in its own process, standard output kept as bytes."""
    return subprocess.run(
        [str(BIN / "invoicing"), *args], cwd=env.path, env=env.environ(), capture_output=True, timeout=240
    )


def test_render_writes_the_pdf_to_standard_output(env: Env) -> None:
    # given
    seed_fixtures(env)
    # when
    proc = binary(env, "render", "--account", "A-0001", "--period", "2026-10", "-o", "-")
    # then standard output is the PDF and nothing else; the message is on stderr
    assert proc.returncode == 0, proc.stderr
    reader = PdfReader(io.BytesIO(proc.stdout))
    assert len(reader.pages) >= 1 and reader.pages[0].extract_text()
    assert proc.stdout.startswith(b"%PDF-") and proc.stdout.rstrip().endswith(b"%%EOF")
    assert proc.stderr.decode().startswith("wrote standard output (")
    assert not (env.path / "-").exists()


def test_merge_writes_the_pdf_to_standard_output(env: Env) -> None:
    # given
    seed_fixtures(env)
    run_json(env, "--period", "2026-10")
    # when
    proc = binary(env, "merge", "--accounts", "A-0002,A-0001", "--period", "2026-10", "-o", "-")
    # then
    assert proc.returncode == 0, proc.stderr
    reader = PdfReader(io.BytesIO(proc.stdout))
    assert len(reader.outline) == 2  # one bookmark per invoice
    assert "wrote standard output: 2 invoices" in proc.stderr.decode()
    assert not (env.path / "-").exists()


def test_export_to_standard_output_is_the_same_zip_as_to_a_file(env: Env, tmp_path: Path) -> None:
    # given a run exported to a file
    seed_fixtures(env)
    run_id = run_json(env, "--period", "2026-10")["run_id"]
    env.cli("export", str(run_id), "-o", str(tmp_path / "run.zip"), check=True)
    # when it is exported to standard output
    proc = binary(env, "export", str(run_id), "-o", "-")
    # then the bytes are the same ZIP's (the export is deterministic), and nothing else
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == (tmp_path / "run.zip").read_bytes()
    with zipfile.ZipFile(io.BytesIO(proc.stdout)) as archive:
        assert archive.testzip() is None and "index.csv" in archive.namelist()
    assert proc.stderr.decode().startswith("wrote standard output: 19 invoices of run")
    assert not (env.path / "-").exists()


def test_export_to_standard_output_with_json_is_refused(env: Env) -> None:
    # when
    result = env.invoke("export", "1", "-o", "-", "--json")
    # then
    assert result.exit_code == 2 and result.stdout == ""
    assert result.stderr == (
        "invoicing: error: -o - and --json both write to standard output; give -o FILE.zip with --json\n"
    )


def test_binary_output_to_a_terminal_is_refused(env: Env) -> None:
    # given
    seed_fixtures(env)
    # when standard output is a terminal
    primary, secondary = pty.openpty()
    try:
        proc = subprocess.run(
            [str(BIN / "invoicing"), "render", "--account", "A-0001", "--period", "2026-10", "-o", "-"],
            cwd=env.path,
            env=env.environ(),
            stdout=secondary,
            stderr=subprocess.PIPE,
            timeout=120,
        )
    finally:
        os.close(secondary)
        os.close(primary)
    # then one line, exit 2, nothing written anywhere
    assert proc.returncode == 2
    assert proc.stderr.decode().strip().splitlines() == [
        "invoicing: error: -o -: standard output is a terminal; send it to a file or a program "
        "(`-o - > FILE`, `| ...`)"
    ]
    assert not (env.path / "-").exists()
