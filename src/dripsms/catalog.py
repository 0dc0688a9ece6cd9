"""Sequence files on disk: read, parse, and check that keys are unique across a folder."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from dripsms.core.sequence.loader import LoadedSequence, parse_sequence
from dripsms.core.yaml_source import parse_yaml
from dripsms.errors import Problem, SequenceError

SUFFIXES = (".yaml", ".yml")

logger = logging.getLogger(__name__)


def sequence_files(paths: Iterable[Path]) -> list[Path]:
    """The sequence files named, with folders expanded to their *.yaml/*.yml files."""
    found: list[Path] = []
    for path in paths:
        if path.is_dir():
            found.extend(sorted(p for p in path.iterdir() if p.suffix in SUFFIXES))
        else:
            found.append(path)
    return found


def load_file(path: Path, *, max_segments: int = 3) -> LoadedSequence:
    """Read and parse one sequence file."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise SequenceError([Problem(str(path), 1, 1, "no such file")]) from None
    except UnicodeDecodeError as exc:
        raise SequenceError([Problem(str(path), 1, 1, f"not UTF-8 text ({exc.reason})")]) from None
    except OSError as exc:
        raise SequenceError([Problem(str(path), 1, 1, f"cannot read: {exc.strerror}")]) from None
    return parse_sequence(text, str(path), max_segments=max_segments)


@dataclass(slots=True)
class CatalogReport:
    """The result of loading many files: the good sequences, and every problem."""

    sequences: dict[str, LoadedSequence] = field(default_factory=dict)
    errors: list[Problem] = field(default_factory=list)
    warnings: list[Problem] = field(default_factory=list)
    files: int = 0


def load_all(paths: Iterable[Path], *, max_segments: int = 3) -> CatalogReport:
    """Load every sequence file under ``paths``; a key used twice is an error."""
    report = CatalogReport()
    for path in sequence_files(paths):
        report.files += 1
        try:
            loaded = load_file(path, max_segments=max_segments)
        except SequenceError as exc:
            report.errors.extend(exc.problems)
            continue
        except Exception as exc:  # one file's bug must not stop the others from loading
            logger.exception("cannot load a sequence file", extra={"action": "sequence_failed"})
            report.errors.append(
                Problem(str(path), 1, 1, f"cannot be loaded: {type(exc).__name__}: {exc}")
            )
            continue
        report.warnings.extend(loaded.warnings)
        key = loaded.sequence.key
        if key in report.sequences:
            other = report.sequences[key].file
            mark = parse_yaml(loaded.text)[1].find(("key",))
            report.errors.append(
                Problem(
                    str(path), mark.line, mark.column, f"key {key!r} is also used by {other}", "key"
                )
            )
            continue
        report.sequences[key] = loaded
    return report
