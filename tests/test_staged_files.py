"""files.StagedFiles: a batch's invoice files appear whole or not at all, with one flush;
and the local store removes a folder of them without listing it whole."""

from __future__ import annotations

import tracemalloc
from pathlib import Path

import pytest

from invoicing import files
from invoicing.files import StagedFiles
from invoicing.storage.local import LocalStore


@pytest.mark.parametrize("syncfs", [True, False], ids=["syncfs", "fsync-each"])
def test_files_appear_only_on_commit(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, syncfs: bool) -> None:
    if not syncfs:
        monkeypatch.setattr(files, "_SYNCFS", None)
    staged = StagedFiles()
    for i in range(3):
        staged.write(i, tmp_path / "out" / f"INV-{i}.pdf", b"%PDF-" + bytes([65 + i]) * 1000)
    # before the commit only temp files exist, never a file under its final name
    assert sorted(p.name.startswith(".") for p in (tmp_path / "out").iterdir()) == [True] * 3
    assert staged.commit() == {}
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["INV-0.pdf", "INV-1.pdf", "INV-2.pdf"]
    assert (tmp_path / "out" / "INV-1.pdf").read_bytes() == b"%PDF-" + b"B" * 1000


def test_a_file_that_cannot_be_put_in_place_is_reported_and_the_rest_land(tmp_path: Path) -> None:
    (tmp_path / "INV-1.pdf").mkdir()  # something in the way of one file
    staged = StagedFiles()
    for i in range(3):
        staged.write(i, tmp_path / f"INV-{i}.pdf", b"%PDF-x")
    failed = staged.commit()
    assert set(failed) == {1} and isinstance(failed[1], OSError)
    assert (tmp_path / "INV-0.pdf").read_bytes() == (tmp_path / "INV-2.pdf").read_bytes() == b"%PDF-x"
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]


def test_discard_leaves_nothing(tmp_path: Path) -> None:
    staged = StagedFiles()
    staged.write("a", tmp_path / "a.pdf", b"data")
    staged.discard()
    assert list(tmp_path.iterdir()) == []
    assert staged.commit() == {}


def test_a_local_store_removes_a_folder_without_listing_it_whole(tmp_path: Path) -> None:
    """A million invoices' folder listed whole held 150 MB; one entry at a time, nothing."""
    folder = tmp_path / "run" / "output"
    folder.mkdir(parents=True)
    (folder / "nested").mkdir()
    for n in range(20_000):
        (folder / f"INV-{n:06d}.pdf").touch()
    (folder / "nested" / "manifest.json").touch()
    tracemalloc.start()
    try:
        LocalStore(tmp_path).remove_tree(str(tmp_path / "run"))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert not (tmp_path / "run").exists()
    assert peak < 200_000, f"removing 20,000 files held {peak:,} bytes"
    LocalStore(tmp_path).remove_tree(str(tmp_path / "run"))  # already gone: nothing to do
