"""Enrolling everyone in a CSV file: each bad row reported with its line, good rows in batches."""

from __future__ import annotations

import csv
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TextIO

from dripsms.core.planning import EnrollmentError, EnrollmentRequest
from dripsms.engine.enrollment import Enroller

RESERVED_COLUMNS = ("phone", "timezone", "external_id", "anchor")


class BadImportFile(EnrollmentError):
    """The file as a whole cannot be imported (no phone column, an unknown column...)."""


@dataclass(slots=True)
class ImportReport:
    """What an import did."""

    rows: int = 0
    enrolled: int = 0
    refused: list[tuple[int, str, str]] = field(default_factory=list)
    """(line, field, reason) for every row that was not enrolled."""

    def as_json(self) -> dict[str, object]:
        """The report, for ``--json``."""
        return {
            "rows": self.rows,
            "enrolled": self.enrolled,
            "refused": [{"line": n, "field": f, "reason": r} for n, f, r in self.refused],
        }


def _rows(handle: TextIO, key: str, declared: set[str]) -> Iterator[tuple[int, EnrollmentRequest]]:
    reader = csv.DictReader(handle)
    columns = [c.strip() for c in (reader.fieldnames or [])]
    if not columns:
        raise BadImportFile("file", "the file is empty; the first line must name the columns")
    reader.fieldnames = columns
    if "phone" not in columns:
        raise BadImportFile("file", f"no 'phone' column (columns: {', '.join(columns)})")
    unknown = [c for c in columns if c not in RESERVED_COLUMNS and c not in declared]
    if unknown:
        raise BadImportFile(
            "file",
            f"column(s) {', '.join(unknown)} are not attributes of {key} "
            f"(attributes: {', '.join(sorted(declared)) or 'none'})",
        )
    for row in reader:
        if None in row:  # more cells than columns
            yield reader.line_num, EnrollmentRequest(key, "", attributes={"\0extra": row[None]})
            continue
        attributes = {k: v for k, v in row.items() if k not in RESERVED_COLUMNS}
        yield (
            reader.line_num,
            EnrollmentRequest(
                sequence=key,
                phone=row.get("phone") or "",
                timezone=(row.get("timezone") or "").strip() or None,
                attributes=attributes,
                anchor=(row.get("anchor") or "").strip() or None,
                external_id=(row.get("external_id") or "").strip() or None,
            ),
        )


def import_csv(
    enroller: Enroller,
    key: str,
    path: Path,
    *,
    now: datetime,
    batch_size: int = 1000,
    progress: Callable[[int], None] | None = None,
) -> ImportReport:
    """Enroll every row of ``path`` in sequence ``key``; a bad row never half-writes."""
    declared = set(enroller.library.current(key).sequence.attributes)
    report = ImportReport()
    try:
        handle = path.open(newline="", encoding="utf-8-sig")
    except OSError as exc:
        raise BadImportFile("file", f"cannot read {path}: {exc.strerror}") from None
    with handle:
        batch: list[tuple[int, EnrollmentRequest]] = []
        try:
            for line, request in _rows(handle, key, declared):
                report.rows += 1
                if "\0extra" in request.attributes:
                    report.refused.append((line, "row", "more cells than columns"))
                    continue
                batch.append((line, request))
                if len(batch) >= batch_size:
                    _flush(enroller, batch, now, report, progress)
        except UnicodeDecodeError as exc:
            raise BadImportFile("file", f"not UTF-8 text ({exc.reason})") from None
        except csv.Error as exc:
            raise BadImportFile("file", f"not a readable CSV file ({exc})") from None
        _flush(enroller, batch, now, report, progress)
    report.refused.sort()
    return report


def _flush(
    enroller: Enroller,
    batch: list[tuple[int, EnrollmentRequest]],
    now: datetime,
    report: ImportReport,
    progress: Callable[[int], None] | None,
) -> None:
    if not batch:
        return
    result = enroller.enroll_batch(batch, now=now, cause="import")
    report.enrolled += len(result.enrolled)
    report.refused += [(line, error.field, error.reason) for line, error in result.refused]
    if progress:
        progress(len(batch))
    batch.clear()
