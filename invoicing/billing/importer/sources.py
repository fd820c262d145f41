"""Import files into rows: JSON data sets and the CSV files CRMs and usage systems export.

A JSON file holds any of the sections plans, subscribers and charges. A CSV file holds one
section, told by its header row (the JSON field names; address lines joined with `|`).
Every row keeps where it came from (`subscribers[3]`, `charges.csv line 12`), so a problem
names the row a person has to fix.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

from invoicing.billing.importer.rows import KEYS, SECTIONS, json_type
from invoicing.errors import ImportProblems


@dataclass(frozen=True)
class Row:
    where: str  # for messages: "subscribers[3]" or "charges.csv line 12"
    raw: Any
    source: str  # the file (or data set) it came from


@dataclass
class Source:
    """One file's rows by section, and what is wrong with the file as a whole."""

    name: str
    sections: dict[str, list[Row]] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)


def from_data(data: Any, name: str = "", prefix: str = "") -> Source:
    """A data set already in memory (a parsed JSON file, or `db seed --generate`)."""
    source = Source(name)
    if not isinstance(data, dict):
        source.problems.append(
            f"{prefix}the file must hold a JSON object with plans, subscribers and charges, "
            f"got {json_type(data)}"
        )
        return source
    unknown = sorted(set(data) - set(SECTIONS))
    if unknown:
        source.problems.append(
            f"{prefix}unknown section(s): {', '.join(map(str, unknown))} "
            "(expected plans, subscribers, charges)"
        )
    for section in SECTIONS:
        rows = data.get(section, [])
        if not isinstance(rows, list):
            source.problems.append(f"{prefix}{section}: must be a list, got {json_type(rows)}")
            continue
        key = KEYS[section]
        source.sections[section] = [
            Row(f"{prefix}{section}[{index}]{_ident(raw, key)}", raw, name) for index, raw in enumerate(rows)
        ]
    return source


def _ident(raw: Any, key: str) -> str:
    if isinstance(raw, dict) and isinstance(raw.get(key), str) and len(raw[key]) <= 64:
        return f" ({key} {raw[key]!r})"
    return ""


def read_files(paths: list[Path]) -> list[Source]:
    """Every file's rows; ImportProblems at once for files that cannot be read at all."""
    sources, problems = [], []
    for path in paths:
        try:
            text = _read_text(path)
        except ImportProblems as exc:
            problems.extend(exc.problems)
            continue
        if _looks_like_csv(path, text):
            sources.append(_from_csv(path, text))
        else:
            prefix = f"{path.name}: " if len(paths) > 1 else ""
            try:
                data = _parse_json(path, text)
            except ImportProblems as exc:
                problems.extend(exc.problems)
                continue
            sources.append(from_data(data, str(path), prefix))
    if problems:
        raise ImportProblems(problems)
    return sources


def load_file(path: Path) -> Any:
    """A JSON data set from a file, numbers kept exact."""
    return _parse_json(path, _read_text(path))


def _read_text(path: Path) -> str:
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise ImportProblems([f"{path}: no such file"]) from None
    except IsADirectoryError:
        raise ImportProblems([f"{path}: is a directory, not a JSON or CSV file"]) from None
    except OSError as exc:
        raise ImportProblems([f"{path}: cannot read: {exc.strerror}"]) from None
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ImportProblems([f"{path}: not UTF-8 text (byte {exc.start})"]) from None


def _looks_like_csv(path: Path, text: str) -> bool:
    if path.suffix.lower() == ".csv":
        return True
    if path.suffix.lower() == ".json":
        return False
    return not text.lstrip().startswith(("{", "["))


def _parse_json(path: Path, text: str) -> Any:
    try:
        # Floats would lose cents before we ever saw them; keep numbers exact for the message.
        return json.loads(text, parse_float=Decimal, parse_constant=_reject_constant)
    except json.JSONDecodeError as exc:
        raise ImportProblems(
            [f"{path}: not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}"]
        ) from None
    except ValueError as exc:
        raise ImportProblems([f"{path}: {exc}"]) from None


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not allowed in an import file")


# --- CSV ---------------------------------------------------------------------------------

# What tells the sections apart: a field only that section has.
_TELLS = (("subscribers", {"email", "plan", "active_from"}), ("charges", {"period", "unit_price"}))


def _section_of(header: set[str]) -> str | None:
    for section, tells in _TELLS:
        if header & tells:
            return section
    if header & {"code", "monthly_fee"}:
        return "plans"
    return None


def _from_csv(path: Path, text: str) -> Source:
    source = Source(str(path))
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = [name.strip() for name in next(reader)]
    except StopIteration:
        source.problems.append(f"{path.name}: empty file (a CSV file needs a header row)")
        return source
    except csv.Error as exc:
        source.problems.append(f"{path.name}: not valid CSV: {exc}")
        return source
    section = _section_of(set(header))
    if section is None:
        source.problems.append(
            f"{path.name}: cannot tell plans, subscribers or charges from the header "
            f"({', '.join(header) or 'empty'})"
        )
        return source
    fields = SECTIONS[section].model_fields
    unknown = [name for name in header if name not in fields]
    missing = [name for name, info in fields.items() if info.is_required() and name not in header]
    duplicated = sorted({name for name in header if header.count(name) > 1})
    if unknown:
        source.problems.append(
            f"{path.name}: unknown column(s) for {section}: {', '.join(unknown)} (known: {', '.join(fields)})"
        )
    if missing:
        source.problems.append(f"{path.name}: missing required column(s) for {section}: {', '.join(missing)}")
    if duplicated:
        source.problems.append(f"{path.name}: column(s) given twice: {', '.join(duplicated)}")
    if unknown or missing or duplicated:
        return source
    source.sections[section] = list(_csv_rows(path, reader, header, section, source))
    return source


def _csv_rows(path: Path, reader: Any, header: list[str], section: str, source: Source) -> Iterator[Row]:
    key = KEYS[section]
    try:
        for cells in reader:
            where = f"{path.name} line {reader.line_num}"
            if not any(cell.strip() for cell in cells):
                continue  # blank lines, as spreadsheets leave them
            if len(cells) != len(header):
                source.problems.append(f"{where}: {len(cells)} cells, the header has {len(header)}")
                continue
            raw: dict[str, Any] = {}
            for name, cell in zip(header, cells, strict=True):
                # An empty cell is an absent optional field (null in JSON).
                if cell.strip() == "":
                    continue
                raw[name] = [line.strip() for line in cell.split("|")] if name == "address" else cell
            yield Row(f"{where}{_ident(raw, key)}", raw, str(path))
    except csv.Error as exc:
        source.problems.append(f"{path.name} line {reader.line_num}: not valid CSV: {exc}")
