"""Print-ready merged output: duplex padding, volumes and the manifest, checked on the
files with pypdf; a volume size below one invoice's pages refused from the outside; and
a run merged again in another shape leaving none of its earlier files.

Invoices of 1, 2 and 3 pages come from subscribers with 0, 20 and 60 usage lines.
"""

from __future__ import annotations

import copy
import csv
import hashlib
import json
from pathlib import Path
from typing import Any

import pytest
from pypdf import PdfReader

from invoicing.pdf import (
    MergeError,
    Part,
    Placement,
    PrintLayout,
    merge_pdfs,
    render_invoice,
    write_fragments,
)
from tests.support import factories
from tests.support.envs import Env
from tests.support.factories import initialized
from tests.support.runs import run_json, status_of

PERIOD = "2026-10"
LINES = [0, 60, 20, 0, 60, 20, 0]  # pages 1, 3, 2, 1, 3, 2, 1


def import_subscribers(env: Env, lines: list[int]) -> None:
    """One subscriber per entry of `lines`, with that many usage charges in PERIOD."""
    subscribers, charges = [], []
    for i, count in enumerate(lines, 1):
        account = f"P-{i:04d}"
        subscriber = copy.deepcopy(factories.VALID_IMPORT["subscribers"][0])
        subscriber.update(account=account, name=f"Kundin {i}")
        subscribers.append(subscriber)
        charges += [
            {
                "id": f"{account}-{j}",
                "account": account,
                "period": PERIOD,
                "description": f"Roaming {j}",
                "quantity": "1",
                "unit_price": "1.00",
            }
            for j in range(count)
        ]
    data = {
        "plans": copy.deepcopy(factories.VALID_IMPORT["plans"]),
        "subscribers": subscribers,
        "charges": charges,
    }
    path = env.path / "print.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    initialized(env)
    env.cli("import", str(path), check=True)


def invoices(env: Env, run_id: int) -> list[dict[str, Any]]:
    """The run's invoices as `status` cannot list them: number, account, pages (sqlite3)."""
    import sqlite3

    with sqlite3.connect(env.path / "invoicing.db") as db:
        rows = db.execute(
            "SELECT i.number, s.account, i.pages, i.bill_name FROM invoices i"
            " JOIN subscribers s ON s.id = i.subscriber_id WHERE i.run_id = ? ORDER BY i.seq",
            (run_id,),
        ).fetchall()
    return [{"number": n, "account": a, "pages": p, "name": name} for n, a, p, name in rows]


def starts(reader: PdfReader) -> list[tuple[str, int]]:
    """(bookmark title, 0-based index of the page it points at) per bookmark."""
    return [(item.title, reader.get_destination_page_number(item)) for item in reader.outline]


def test_duplex_volumes_and_manifest_match_the_files(env: Env) -> None:
    # given invoices of 1, 2 and 3 pages
    import_subscribers(env, LINES)
    # when the run is merged for a duplex printer, in volumes of at most 6 pages
    summary = run_json(env, "--period", PERIOD, INVOICING_PRINT_DUPLEX="1", INVOICING_VOLUME_MAX_PAGES="6")
    issued = invoices(env, summary["run_id"])
    assert [i["pages"] for i in issued] == [1, 3, 2, 1, 3, 2, 1]
    volumes = summary["volumes"]
    folder = Path(summary["output"]).parent
    # then the volumes are named in order, hold whole invoices and add up to the run
    assert [Path(v["output"]).name for v in volumes] == [
        f"billing-run-{summary['run_id']}-vol-{n:03d}.pdf" for n in range(1, len(volumes) + 1)
    ]
    assert summary["output"] == volumes[0]["output"] and summary["sha256"] == volumes[0]["sha256"]
    padded = [i["pages"] + i["pages"] % 2 for i in issued]
    assert summary["pages"] == sum(v["pages"] for v in volumes) == sum(padded) == 18
    assert sum(v["invoices"] for v in volumes) == len(issued)
    readers = []
    for volume in volumes:
        path = Path(volume["output"])
        assert hashlib.sha256(path.read_bytes()).hexdigest() == volume["sha256"]
        reader = PdfReader(path)
        assert len(reader.pages) == volume["pages"] <= 6
        readers.append(reader)
    # and every invoice starts on a front side: an even page index, in its volume
    placed = [(title, n, index) for n, reader in enumerate(readers, 1) for title, index in starts(reader)]
    assert [title for title, _, _ in placed] == [f"{i['number']} — {i['name']}" for i in issued]
    assert all(index % 2 == 0 for _, _, index in placed)
    # the padding is a blank page of the invoice's size, labelled within its range
    for invoice, (_, n, index) in zip(issued, placed, strict=True):
        reader = readers[n - 1]
        pages = reader.pages[index : index + invoice["pages"] + invoice["pages"] % 2]
        assert invoice["number"] in pages[0].extract_text()
        assert reader.page_labels[index] == f"{invoice['number']} p.1"
        if invoice["pages"] % 2:
            blank = pages[-1]
            assert blank.extract_text() == "" and "/Contents" not in blank
            assert blank.mediabox == pages[-2].mediabox
    # the manifest, JSON and CSV, is the same job ticket and matches the files
    ticket = json.loads((folder / f"billing-run-{summary['run_id']}-manifest.json").read_text("utf-8"))
    with open(
        folder / f"billing-run-{summary['run_id']}-manifest.csv", newline="", encoding="utf-8"
    ) as handle:
        rows = list(csv.DictReader(handle))
    assert ticket["duplex"] is True and ticket["volume_max_pages"] == 6
    expected = [
        {
            "number": invoice["number"],
            "account": invoice["account"],
            "volume": n,
            "file": Path(volumes[n - 1]["output"]).name,
            "first_page": index + 1,
            "pages": invoice["pages"],
            "sheets": (invoice["pages"] + 1) // 2,
        }
        for invoice, (_, n, index) in zip(issued, placed, strict=True)
    ]
    assert ticket["invoices"] == expected
    assert rows == [{key: str(value) for key, value in row.items()} for row in expected]
    assert [(v["file"], v["pages"], v["sha256"]) for v in ticket["volumes"]] == [
        (Path(v["output"]).name, v["pages"], v["sha256"]) for v in volumes
    ]
    assert ticket["sheets"] == sum(row["sheets"] for row in expected) == 9
    # and status and runs report the volumes
    assert status_of(env, summary["run_id"])["volumes"] == volumes
    listed = json.loads(env.cli("runs", "--json", check=True).stdout)
    assert listed[0]["volumes"] == volumes


def test_a_volume_size_below_an_invoice_is_refused(env: Env) -> None:
    # given a run's invoices of up to 3 pages
    import_subscribers(env, LINES[:3])
    # when volumes of 2 pages are asked for: nobody knows the pages before rendering, so
    # the body refuses, before it writes anything, and the run fails with the reason
    failed = env.cli("run", "--period", PERIOD, "--json", INVOICING_VOLUME_MAX_PAGES="2")
    assert failed.returncode == 1 and "Traceback" not in failed.stderr
    status = status_of(env, 1)
    assert status["status"] == "failed" and status["volumes"] == [] and status["output"] is None
    assert status["error"] == (
        "merge failed: INVOICING_VOLUME_MAX_PAGES=2 is below one invoice's pages: "
        f"INV-{PERIOD}-000002 takes 3 pages"
    )
    folder = env.path / "output" / PERIOD
    assert not list(folder.glob("billing-run-*")) and not list(folder.glob(".billing-run-*"))
    # then retrying with it is refused before anything is dispatched: one line, exit 2
    refused = env.cli("retry", "1", "--json", INVOICING_VOLUME_MAX_PAGES="2")
    assert refused.returncode == 2 and refused.stdout == ""
    assert refused.stderr.strip().splitlines() == [
        "invoicing: error: INVOICING_VOLUME_MAX_PAGES=2 is below one invoice's pages: "
        f"INV-{PERIOD}-000002 takes 3 pages; nothing was dispatched"
    ]
    assert status_of(env, 1)["status"] == "failed"
    # under duplex a 3-page invoice takes 4: a volume of 3 is too small as well
    duplex = env.cli("retry", "1", INVOICING_VOLUME_MAX_PAGES="3", INVOICING_PRINT_DUPLEX="1")
    assert duplex.returncode == 2 and "takes 4 pages with its duplex blank page" in duplex.stderr
    # and one page under duplex is refused by the settings themselves, for any command
    one = env.cli("runs", INVOICING_VOLUME_MAX_PAGES="1", INVOICING_PRINT_DUPLEX="1")
    assert one.returncode == 2 and len(one.stderr.strip().splitlines()) == 1
    assert "INVOICING_VOLUME_MAX_PAGES" in one.stderr and "Traceback" not in one.stderr
    # and a size that fits completes the run
    done = json.loads(env.cli("retry", "1", "--json", INVOICING_VOLUME_MAX_PAGES="3").stdout)
    assert done["status"] == "completed" and [v["pages"] for v in done["volumes"]] == [1, 3, 2]


def set_locale(env: Env, locale: str, *accounts: str) -> None:
    """A locale nobody knows fails the subscribers' invoices; a real one lets them render."""
    import sqlite3

    with sqlite3.connect(env.path / "invoicing.db") as db:
        db.executemany("UPDATE subscribers SET locale = ? WHERE account = ?", [(locale, a) for a in accounts])


def recorded_output(env: Env, run_id: int) -> tuple[list[tuple[str, str, int, int]], list[str]]:
    """What the database holds of the run's merge: its volume rows (file name, sha256,
    pages, invoices) in order, and the numbers of its rendered invoices in order."""
    import sqlite3

    with sqlite3.connect(env.path / "invoicing.db") as db:
        volumes = db.execute(
            "SELECT output_path, sha256, pages, invoices FROM run_volumes WHERE run_id = ? ORDER BY number",
            (run_id,),
        ).fetchall()
        rendered = db.execute(
            "SELECT number FROM invoices WHERE run_id = ? AND status = 'rendered' ORDER BY seq", (run_id,)
        ).fetchall()
    return [(Path(path).name, sha, pages, count) for path, sha, pages, count in volumes], [
        n for (n,) in rendered
    ]


def assert_output_is_the_recorded_merge(env: Env, run_id: int, files: list[str]) -> None:
    """The run's files in its folder are exactly `files` and the manifest, and each is the
    one the database records: no file of an earlier merge is left."""
    folder = env.path / "output" / PERIOD
    volumes, rendered = recorded_output(env, run_id)
    stem = f"billing-run-{run_id}"
    assert [name for name, _, _, _ in volumes] == files
    assert sorted(p.name for p in folder.iterdir() if p.name.lstrip(".").startswith(stem)) == sorted(
        [*files, f"{stem}-manifest.csv", f"{stem}-manifest.json"]
    )
    titles = []
    for name, sha256, pages, count in volumes:
        assert hashlib.sha256((folder / name).read_bytes()).hexdigest() == sha256
        reader = PdfReader(folder / name)
        assert len(reader.pages) == pages and len(reader.outline) == count
        titles += [item.title.partition(" — ")[0] for item in reader.outline]
    assert titles == rendered
    ticket = json.loads((folder / f"{stem}-manifest.json").read_text("utf-8"))
    assert [(v["file"], v["sha256"], v["pages"], v["invoices"]) for v in ticket["volumes"]] == volumes
    assert [row["number"] for row in ticket["invoices"]] == rendered
    with open(folder / f"{stem}-manifest.csv", newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    assert [(row["number"], row["file"]) for row in rows] == [
        (i["number"], i["file"]) for i in ticket["invoices"]
    ]


def test_merging_a_run_again_leaves_only_the_new_files(env: Env) -> None:
    # given invoices of 1, 3, 2, 1, 3, 2 and 1 pages, three of which fail (an unknown
    # locale) and are fixed one per `retry`, so the run is merged four times
    import_subscribers(env, LINES)
    set_locale(env, "xx_XX", "P-0002", "P-0005", "P-0007")
    vol = [f"billing-run-1-vol-{n:03d}.pdf" for n in range(1, 5)]
    # when it is merged as one file (1, 2, 1, 2 pages)
    first = run_json(env, "--period", PERIOD, expect=3)
    assert (first["run_id"], first["failed"]) == (1, 3)
    assert_output_is_the_recorded_merge(env, 1, ["billing-run-1.pdf"])
    # then again in volumes of 3 pages (1 | 3 | 2 1 | 2): the one file is gone
    set_locale(env, "de_DE", "P-0002")
    retried = env.cli("retry", "1", INVOICING_VOLUME_MAX_PAGES="3")
    assert retried.returncode == 3, retried.stderr
    assert_output_is_the_recorded_merge(env, 1, vol[:4])
    # then in volumes of 7 (1 3 2 1 | 3 2): volumes 3 and 4 are gone
    set_locale(env, "de_DE", "P-0005")
    retried = env.cli("retry", "1", INVOICING_VOLUME_MAX_PAGES="7")
    assert retried.returncode == 3, retried.stderr
    assert_output_is_the_recorded_merge(env, 1, vol[:2])
    # and as one file again, complete: no volume is left
    set_locale(env, "de_DE", "P-0007")
    retried = env.cli("retry", "1")
    assert retried.returncode == 0, retried.stderr
    assert_output_is_the_recorded_merge(env, 1, ["billing-run-1.pdf"])
    assert status_of(env, 1)["pages"] == sum([1, 3, 2, 1, 3, 2, 1])


# ------------------------------------------------------------------ the merge itself


def rendered(folder: Path, count: int) -> list[tuple[Part, bytes]]:
    """`count` one-page invoices, as files and bytes."""
    out = []
    for n in range(1, count + 1):
        number = f"INV-2026-10-{n:06d}"
        pdf = render_invoice(
            factories.invoice(
                number=number,
                account=f"ACC-{n}",
                name=f"Name {n}",
                lines=(factories.line("Fee", "1", "9.90", "9.90"),),
            )
        )
        path = folder / f"{number}.pdf"
        path.write_bytes(pdf)
        out.append(
            (Part(path, f"{number} — Name {n}", number, hashlib.sha256(pdf).hexdigest(), f"ACC-{n}"), pdf)
        )
    return out


def test_volumes_from_a_generator_read_once(tmp_path: Path) -> None:
    # given five one-page invoices handed in by a generator, as the chord body does
    parts = [part for part, _ in rendered(tmp_path, 5)]
    handed: list[str] = []

    def source():
        for part in parts:
            handed.append(part.label)
            yield part

    placed: list[tuple[str, Placement]] = []
    # when they are merged in volumes of three pages, duplex
    merged = merge_pdfs(
        source(),
        tmp_path / "run.pdf",
        layout=PrintLayout(duplex=True, max_pages=3),
        placed=lambda p, w: placed.append((p.label, w)),
    )
    # then each part was read once, and the volumes hold one padded invoice each
    assert handed == [p.label for p in parts]
    assert not (tmp_path / "run.pdf").exists()
    assert [v.path.name for v in merged.volumes] == [f"run-vol-{n:03d}.pdf" for n in range(1, 6)]
    assert [(label, w.volume, w.first_page, w.pages, w.blank) for label, w in placed] == [
        (p.label, n, 1, 1, True) for n, p in enumerate(parts, 1)
    ]
    assert merged.pages == 10 and merged.path == merged.volumes[0].path
    for volume, part in zip(merged.volumes, parts, strict=True):
        reader = PdfReader(volume.path)
        assert len(reader.pages) == volume.pages == 2
        assert [item.title for item in reader.outline] == [part.title]
        assert [reader.page_labels[i] for i in range(2)] == [f"{part.label} p.1", f"{part.label} p.2"]
        assert reader.metadata.title == volume.path.stem
        assert hashlib.sha256(volume.path.read_bytes()).hexdigest() == volume.sha256
    # and without a layout the file is exactly what the same parts in a list give
    one = merge_pdfs(iter(parts), tmp_path / "a" / "run.pdf")
    again = merge_pdfs(parts, tmp_path / "b" / "run.pdf", layout=PrintLayout())
    assert one.path.read_bytes() == again.path.read_bytes() and len(one.volumes) == 1


def test_fragment_index_tells_keys_sharing_a_prefix_apart(tmp_path: Path) -> None:
    """The body's index holds a 40-bit prefix per entry; the file's own full keys decide."""
    (a, pdf_a), (b, pdf_b), _ = rendered(tmp_path, 3)
    first, second, absent = ("ab" * 5 + tail * 27 for tail in ("00", "11", "22"))
    write_fragments([pdf_a], tmp_path / "1.frag", [first])
    write_fragments([pdf_b], tmp_path / "2.frag", [second])
    frags = [tmp_path / "1.frag", tmp_path / "2.frag"]
    # when parts with no file are asked for by those keys
    parts = [
        Part(tmp_path / "gone-b.pdf", b.title, b.label, second),
        Part(tmp_path / "gone-a.pdf", a.title, a.label, first),
    ]
    merged = merge_pdfs(parts, tmp_path / "run.pdf", frags)
    # then each comes from its own entry
    reader = PdfReader(merged.path)
    assert merged.prelinked == 2
    assert [b.label in reader.pages[0].extract_text(), a.label in reader.pages[1].extract_text()] == [
        True,
        True,
    ]
    # and a key with the same prefix that no file holds is not taken for either
    with pytest.raises(MergeError, match="missing invoice file"):
        merge_pdfs([Part(tmp_path / "gone.pdf", "t", "T", absent)], tmp_path / "none.pdf", frags)
