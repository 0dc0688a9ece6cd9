"""Enrolling everyone in a CSV file, checked whole before anything is written.

The file is read once, line by line (never held whole): every row is decoded, parsed and
turned into a request, and every problem is kept with the line its row begins on: a byte
that is not UTF-8 (with its column and byte offset), a field over the size limit, an
unclosed quote (reported where its record began), a wrong number of cells. A problem with
the header (no ``phone``, a duplicate, unknown or unnamed column) refuses the whole file.
Only then are the valid rows enrolled, in batches; with ``all_or_nothing`` a single
refused row writes nothing at all. Every data row is accounted for:
``enrolled + refused + duplicates + blank == rows``.
"""

from __future__ import annotations

import csv
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import BinaryIO

from dripsms.core.planning import EnrollmentError, EnrollmentRequest
from dripsms.engine.enrollment import Enrolled, Enroller, is_duplicate

RESERVED_COLUMNS = ("phone", "timezone", "external_id", "anchor")
MAX_FIELD = 65_536
"""The longest cell accepted, in characters (``csv.field_size_limit`` during an import)."""
MAX_LINE = 1 << 20
"""The longest line read whole, in bytes; a longer one is skipped and its row refused."""
_TOO_LONG = "x" * (MAX_FIELD + 1) + "\n"
"""Stands for a skipped line: ``csv`` refuses it as a field over the limit."""

Progress = Callable[[str, int, int], None]
"""``progress(phase, done, total)``: phase ``read`` counts bytes, ``enroll`` counts rows."""


class BadImportFile(EnrollmentError):
    """The file as a whole cannot be imported (no phone column, an unknown column...)."""


@dataclass(slots=True)
class ImportReport:
    """What an import did, with every data row accounted for."""

    rows: int = 0
    """Data rows (records after the header), blank ones included."""
    valid: int = 0
    """Rows that passed every check: enrolled, or not written under ``all_or_nothing``."""
    enrolled: int = 0
    blank: int = 0
    refused: list[tuple[int, str, str]] = field(default_factory=list)
    """(line, field, reason) for every row that is invalid."""
    duplicates: list[tuple[int, str]] = field(default_factory=list)
    """(line, reason) for rows already enrolled (in the database or earlier in the file)."""
    missed: list[tuple[int, tuple[str, ...]]] = field(default_factory=list)
    """(line, steps) for enrolled rows with steps already past their latest send time."""
    caught_up: list[tuple[int, tuple[str, ...]]] = field(default_factory=list)
    """(line, steps) for enrolled rows whose most recent missed step is sent now."""
    written: bool = True
    """False when ``all_or_nothing`` refused the file: nothing was written."""

    @property
    def accounted(self) -> int:
        """valid + refused + duplicates + blank: equals ``rows`` after every import.

        ``valid`` is ``enrolled`` whenever the import was written.
        """
        return self.valid + len(self.refused) + len(self.duplicates) + self.blank

    @property
    def missed_total(self) -> int:
        """Messages recorded ``missed`` across the file."""
        return sum(len(steps) for _, steps in self.missed)

    def as_json(self) -> dict[str, object]:
        """The report, for ``--json``."""
        return {
            "rows": self.rows,
            "valid": self.valid,
            "enrolled": self.enrolled,
            "blank": self.blank,
            "written": self.written,
            "refused": [{"line": n, "field": f, "reason": r} for n, f, r in self.refused],
            "duplicates": [{"line": n, "reason": r} for n, r in self.duplicates],
            "missed": [{"line": n, "steps": list(s)} for n, s in self.missed],
            "missed_total": self.missed_total,
            "caught_up": [{"line": n, "steps": list(s)} for n, s in self.caught_up],
        }


@dataclass(frozen=True, slots=True)
class _BadByte:
    line: int
    column: int
    offset: int
    byte: int

    def describe(self) -> str:
        return (
            f"byte 0x{self.byte:02X} at line {self.line}, column {self.column} "
            f"(byte offset {self.offset}) is not UTF-8"
        )


class _Lines:
    """The file's lines as text for ``csv.reader``, each decoded on its own.

    A line that is not UTF-8 is remembered (line, column, byte offset) and passed on with
    its bad bytes escaped, so its row is refused while the rest of the file is read.
    Splitting on ``\\n`` is safe: that byte never occurs inside a UTF-8 sequence.
    """

    def __init__(self, handle: BinaryIO, progress: Progress | None, size: int) -> None:
        self.handle = handle
        self.progress = progress
        self.size = size
        self.number = 0
        self.offset = 0
        self.bad: dict[int, _BadByte] = {}

    def __iter__(self) -> Iterator[str]:
        while raw := self.handle.readline(MAX_LINE + 1):
            self.number += 1
            if len(raw) > MAX_LINE and not raw.endswith(b"\n"):
                self.offset += len(raw) + self._skip_rest()
                yield _TOO_LONG
                continue
            if self.number == 1 and raw.startswith(b"\xef\xbb\xbf"):
                raw = raw[3:]
                self.offset += 3
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError as exc:
                column = len(raw[: exc.start].decode("utf-8", "replace")) + 1
                self.bad[self.number] = _BadByte(
                    self.number, column, self.offset + exc.start, raw[exc.start]
                )
                text = raw.decode("utf-8", "surrogateescape")
            self.offset += len(raw)
            if self.progress is not None and self.number % 1000 == 0:
                self.progress("read", self.offset, self.size)
            yield text

    def _skip_rest(self) -> int:
        """Read past the rest of an overlong line without holding it; its length."""
        skipped = 0
        while chunk := self.handle.readline(MAX_LINE):
            skipped += len(chunk)
            if chunk.endswith(b"\n"):
                break
        return skipped

    def bad_between(self, first: int, last: int) -> _BadByte | None:
        """The first undecodable byte on lines ``first`` to ``last``, if any."""
        if not self.bad:
            return None
        return next((self.bad[n] for n in range(first, last + 1) if n in self.bad), None)


@dataclass(frozen=True, slots=True)
class _Columns:
    names: tuple[str, ...]

    def request(self, key: str, cells: list[str], catch_up: bool | None) -> EnrollmentRequest:
        row = dict(zip(self.names, cells, strict=True))
        return EnrollmentRequest(
            sequence=key,
            phone=row.get("phone") or "",
            timezone=(row.get("timezone") or "").strip() or None,
            attributes={k: v for k, v in row.items() if k not in RESERVED_COLUMNS},
            anchor=(row.get("anchor") or "").strip() or None,
            external_id=(row.get("external_id") or "").strip() or None,
            catch_up=catch_up,
        )


def _header(cells: list[str] | None, key: str, declared: set[str]) -> _Columns:
    if cells is None:
        raise BadImportFile("file", "the file is empty; the first line must name the columns")
    if not any(c.strip() for c in cells):
        raise BadImportFile("header", "line 1 is blank; the first line must name the columns")
    columns = [c.strip() for c in cells]
    for number, name in enumerate(columns, start=1):
        if not name:
            raise BadImportFile("header", f"column {number} has no name")
    repeated = sorted({c for c in columns if columns.count(c) > 1})
    if repeated:
        raise BadImportFile("header", f"column(s) {', '.join(repeated)} appear more than once")
    if "phone" not in columns:
        raise BadImportFile("header", f"no 'phone' column (columns: {', '.join(columns)})")
    unknown = [c for c in columns if c not in RESERVED_COLUMNS and c not in declared]
    if unknown:
        raise BadImportFile(
            "header",
            f"column(s) {', '.join(unknown)} are not attributes of {key} "
            f"(attributes: {', '.join(sorted(declared)) or 'none'})",
        )
    return _Columns(tuple(columns))


@dataclass(slots=True)
class _Row:
    """One parsed record: the line it begins on, and its request or why it is refused."""

    line: int
    request: EnrollmentRequest | None = None
    problem: tuple[str, str] | None = None
    blank: bool = False


def _check_cells(row: _Row, columns: _Columns, cells: list[str]) -> None:
    if len(cells) != len(columns.names):
        row.problem = (
            "row",
            f"{len(cells)} cells, but the header has {len(columns.names)} columns",
        )
        return
    for name, cell in zip(columns.names, cells, strict=True):
        if "\0" in cell:
            row.problem = (name, "contains a NUL character")
            return


def _rows(lines: _Lines, key: str, declared: set[str], catch_up: bool | None) -> Iterator[_Row]:
    """Every record of the file after the header, parsed and checked (nothing written)."""
    reader = csv.reader(lines, strict=True)
    try:
        header = next(reader, None)
    except csv.Error as exc:
        problem = _csv_problem(str(exc), 1, reader.line_num)
        raise BadImportFile("header", f"line 1: {problem}") from None
    bad = lines.bad_between(1, reader.line_num)
    if bad is not None:
        raise BadImportFile("header", bad.describe())
    columns = _header(header, key, declared)
    while True:
        first = reader.line_num + 1
        row = _Row(first)
        try:
            cells = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            row.problem = ("row", _csv_problem(str(exc), first, reader.line_num))
            yield row
            continue
        bad = lines.bad_between(first, reader.line_num)
        if bad is not None:
            row.problem = ("encoding", bad.describe())
        elif not any(cell.strip() for cell in cells):
            row.blank = True
        else:
            _check_cells(row, columns, cells)
            if row.problem is None:
                row.request = columns.request(key, cells, catch_up)
        yield row


def _csv_problem(message: str, first: int, last: int) -> str:
    span = f" (lines {first} to {last})" if last > first else ""
    if "field larger than field limit" in message:
        return f"a cell is longer than {MAX_FIELD:,} characters{span}"
    if "unexpected end of data" in message:
        return (
            f"a quote opened in this row is never closed, so the row runs to the end of "
            f"the file{span}"
        )
    if "new-line character seen in unquoted field" in message:
        return (
            f"a carriage return inside an unquoted cell (a file saved with old Mac line "
            f"endings?): save it with Windows or Unix line endings{span}"
        )
    return f"not valid CSV: {message}{span}"


@contextmanager
def _field_limit(limit: int) -> Iterator[None]:
    previous = csv.field_size_limit(limit)
    try:
        yield
    finally:
        csv.field_size_limit(previous)


def read_rows(
    path: Path, key: str, declared: set[str], *, catch_up: bool | None = None,
    progress: Progress | None = None,
) -> list[_Row]:  # fmt: skip
    """Every data row of ``path``, checked; raises :class:`BadImportFile` for the file."""
    try:
        handle = path.open("rb")
        size = path.stat().st_size
    except OSError as exc:
        raise BadImportFile("file", f"cannot read {path}: {exc.strerror}") from None
    with handle, _field_limit(MAX_FIELD):
        lines = _Lines(handle, progress, size)
        rows = list(_rows(lines, key, declared, catch_up))
    if progress is not None:
        progress("read", size, size)
    return rows


def import_csv(
    enroller: Enroller,
    key: str,
    path: Path,
    *,
    now: datetime,
    batch_size: int = 1000,
    catch_up: bool | None = None,
    all_or_nothing: bool = False,
    progress: Progress | None = None,
) -> ImportReport:
    """Enroll every valid row of ``path`` in sequence ``key``; report every other by line.

    Nothing is written before the whole file has been read and checked. With
    ``all_or_nothing``, one refused row (an invalid one; rows already enrolled are only
    skipped) writes nothing.
    """
    declared = set(enroller.library.current(key).sequence.attributes)
    rows = read_rows(path, key, declared, catch_up=catch_up, progress=progress)
    report = ImportReport(rows=len(rows))
    items: list[tuple[int, EnrollmentRequest]] = []
    for row in rows:
        if row.blank:
            report.blank += 1
        elif row.problem is not None:
            report.refused.append((row.line, *row.problem))
        else:
            assert row.request is not None
            items.append((row.line, row.request))
    del rows

    def advanced(done: int) -> None:
        if progress is not None:
            progress("enroll", done, len(items))

    result = enroller.enroll_many(
        items, now=now, cause="import", batch_size=batch_size, atomic=all_or_nothing,
        refuse_all=all_or_nothing and bool(report.refused), progress=advanced,
    )  # fmt: skip
    report.written = result.written
    _account(report, result.refused, result.enrolled)
    return _done(report)


def _account(
    report: ImportReport,
    refused: list[tuple[int, EnrollmentError]],
    enrolled: list[tuple[int, Enrolled]],
) -> None:
    for line, error in refused:
        if is_duplicate(error):
            report.duplicates.append((line, error.reason))
        else:
            report.refused.append((line, error.field, error.reason))
    report.valid = len(enrolled)
    report.enrolled = len(enrolled) if report.written else 0
    for line, item in enrolled:
        if item.prepared.missed:
            report.missed.append((line, item.prepared.missed))
        if item.prepared.caught_up:
            report.caught_up.append((line, item.prepared.caught_up))


def _done(report: ImportReport) -> ImportReport:
    report.refused.sort()
    report.duplicates.sort()
    report.missed.sort()
    report.caught_up.sort()
    if not report.written:
        report.enrolled = 0
        report.missed.clear()
        report.caught_up.clear()
    return report
