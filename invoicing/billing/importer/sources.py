"""Import files into rows: JSON data sets and the CSV files CRMs and usage systems export.

A JSON file holds any of the sections plans, subscribers and charges. A CSV file holds one
section, told by its header row (the JSON field names; address lines joined with `|`).
Every row keeps where it came from (`subscribers[3]`, `charges.csv line 12`), so a problem
names the row a person has to fix.
"""

from __future__ import annotations

import contextlib
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

# How deep a JSON file may nest: the format needs 4 (the file's object, a section's list,
# a row, an address's lines); a little room so a row with a nested value is reported as
# that row's problem. Python's parser recurses and would die of RecursionError near 1,000.
MAX_DEPTH = 8
# The longest CSV cell: the longest field is 6 address lines of 200 characters joined
# with `|`; csv's own default (131,072) lets one cell hold a page of text.
MAX_CSV_CELL = 4096
# Without a setting (a data set made in memory): the default of INVOICING_IMPORT_MAX_MB.
DEFAULT_MAX_BYTES = 256 * 2**20


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
            f"{prefix}unknown {'sections' if len(unknown) > 1 else 'section'}: "
            f"{', '.join(map(str, unknown))} "
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


def read_files(paths: list[Path], max_bytes: int = DEFAULT_MAX_BYTES) -> list[Source]:
    """Every file's rows; ImportProblems at once for files that cannot be read at all,
    are larger than `max_bytes`, or nest deeper than the format."""
    sources, problems = [], []
    for path in paths:
        try:
            text = _read_text(path, max_bytes)
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


def load_file(path: Path, max_bytes: int = DEFAULT_MAX_BYTES) -> Any:
    """A JSON data set from a file, numbers kept exact."""
    return _parse_json(path, _read_text(path, max_bytes))


def _read_text(path: Path, max_bytes: int) -> str:
    try:
        with path.open("rb") as file:
            # One byte more than allowed tells a file too large without reading it all
            # (a FIFO or /dev/zero has no size to ask for first).
            raw = file.read(max_bytes + 1)
    except FileNotFoundError:
        raise ImportProblems([f"{path}: no such file"]) from None
    except IsADirectoryError:
        raise ImportProblems([f"{path}: is a directory, not a JSON or CSV file"]) from None
    except OSError as exc:
        raise ImportProblems([f"{path}: cannot read: {exc.strerror}"]) from None
    if len(raw) > max_bytes:
        raise ImportProblems(
            [f"{path}: larger than {_size(max_bytes)}, the most an import reads (INVOICING_IMPORT_MAX_MB)"]
        )
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


def _size(count: int) -> str:
    return f"{count / 2**20:g} MiB" if count >= 2**20 else f"{count:,} bytes"


def _parse_json(path: Path, text: str) -> Any:
    too_deep = ImportProblems([f"{path}: nested deeper than {MAX_DEPTH} levels (the import format needs 4)"])
    try:
        # Floats would lose cents before we ever saw them; keep numbers exact for the message.
        data = json.loads(text, parse_float=Decimal, parse_int=_integer, parse_constant=_reject_constant)
    except RecursionError:
        raise too_deep from None
    except json.JSONDecodeError as exc:
        raise ImportProblems(
            [f"{path}: not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}"]
        ) from None
    except ValueError as exc:
        raise ImportProblems([f"{path}: {exc}"]) from None
    if _deeper_than(data, MAX_DEPTH):
        raise too_deep
    return data


def _deeper_than(data: Any, limit: int) -> bool:
    """Whether lists and objects nest more than `limit` levels (iterative: no recursion)."""
    stack = [(data, 1)]
    while stack:
        value, depth = stack.pop()
        children = value.values() if isinstance(value, dict) else value if isinstance(value, list) else ()
        for child in children:
            if isinstance(child, dict | list):
                if depth + 1 > limit:
                    return True
                stack.append((child, depth + 1))
    return False


_MAX_INTEGER_DIGITS = 40


def _integer(digits: str) -> int:
    """A JSON integer, refused by its length before Python's own limit (4,300 digits)
    raises a message that names `sys.set_int_max_str_digits`. No field holds more
    than 40 digits."""
    if len(digits.lstrip("-")) > _MAX_INTEGER_DIGITS:
        raise ValueError(f"a number of {len(digits.lstrip('-')):,} digits, longer than any field holds")
    return int(digits)


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


@contextlib.contextmanager
def _cells_at_most(limit: int) -> Iterator[None]:
    # csv's limit is the process's; set for this read and put back.
    before = csv.field_size_limit(limit)
    try:
        yield
    finally:
        csv.field_size_limit(before)


def _csv_problem(exc: csv.Error) -> str:
    if "field larger than field limit" in str(exc):
        return f"a cell longer than {MAX_CSV_CELL:,} characters"
    return f"not valid CSV: {exc}"


def _from_csv(path: Path, text: str) -> Source:
    with _cells_at_most(MAX_CSV_CELL):
        return _read_csv(path, text)


def _read_csv(path: Path, text: str) -> Source:
    source = Source(str(path))
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = [name.strip() for name in next(reader)]
    except StopIteration:
        source.problems.append(f"{path.name}: empty file (a CSV file needs a header row)")
        return source
    except csv.Error as exc:
        source.problems.append(f"{path.name}: {_csv_problem(exc)}")
        return source
    section = _section_of(set(header))
    if section is None and len(header) == 1 and ";" in header[0]:
        # A spreadsheet set to a language that writes decimal commas saves CSV with ";".
        source.problems.append(
            f"{path.name}: columns separated by ';'; this import reads ',' (save it as CSV with comma "
            "separators, amounts with a decimal point: 9.90, not 9,90)"
        )
        return source
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
            f"{path.name}: unknown {_columns(unknown)} for {section}: {', '.join(unknown)} "
            f"(known: {', '.join(fields)})"
        )
    if missing:
        source.problems.append(
            f"{path.name}: missing required {_columns(missing)} for {section}: {', '.join(missing)}"
        )
    if duplicated:
        source.problems.append(f"{path.name}: {_columns(duplicated)} given twice: {', '.join(duplicated)}")
    if unknown or missing or duplicated:
        return source
    # Read whole while the cell limit holds.
    source.sections[section] = list(_csv_rows(path, reader, header, section, source))
    return source


def _columns(names: list[str]) -> str:
    return "columns" if len(names) > 1 else "column"


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
        source.problems.append(f"{path.name} line {reader.line_num}: {_csv_problem(exc)}")
