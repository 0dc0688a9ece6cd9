"""The sequences an engine runs: the current files, and every version pinned by an enrollment."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dripsms.catalog import load_all
from dripsms.core.sequence.loader import LoadedSequence, parse_sequence
from dripsms.core.yaml_source import YamlProblem, parse_yaml
from dripsms.errors import NotFound, Problem


class UnknownSequence(NotFound):
    """No valid sequence file has this key."""


@dataclass(frozen=True, slots=True)
class LoadProblem:
    """A sequence file that failed to load: it is skipped, every other sequence runs."""

    file: str
    key: str | None
    """The key the file declares, when it could be read."""
    problems: tuple[Problem, ...]

    def as_json(self) -> dict[str, Any]:
        """For ``/healthz`` and ``--json``: the file, its key and each problem as text."""
        return {"file": self.file, "key": self.key, "problems": [str(p) for p in self.problems]}


def _declared_key(file: str) -> str | None:
    """The ``key:`` a broken file declares, if its YAML can be read at all."""
    try:
        data, _ = parse_yaml(Path(file).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, YamlProblem):
        return None
    key = data.get("key") if isinstance(data, dict) else None
    return key if isinstance(key, str) and key else None


class SequenceLibrary:
    """Sequence files of a folder, parsed once; pinned versions parsed from their stored text.

    A file that fails to load is skipped and kept in :attr:`load_problems`; the others
    load and run. Enrollments pinned to a version of a broken file keep running from the
    text stored with them.
    """

    def __init__(self, directory: Path, *, max_segments: int = 3) -> None:
        self.directory = directory
        self.max_segments = max_segments
        self._current: dict[str, LoadedSequence] = {}
        self._broken: dict[str, LoadProblem] = {}
        self._load_problems: list[LoadProblem] = []
        self._by_digest: dict[str, LoadedSequence] = {}
        self.reload()

    def reload(self) -> None:
        """Read the folder again (after files changed)."""
        report = load_all([self.directory], max_segments=self.max_segments)
        self._current = dict(report.sequences)
        by_file: dict[str, list[Problem]] = {}
        for problem in report.errors:
            by_file.setdefault(problem.file, []).append(problem)
        self._load_problems = [
            LoadProblem(file, _declared_key(file), tuple(problems))
            for file, problems in sorted(by_file.items())
        ]
        self._broken = {}
        for broken in self._load_problems:
            self._broken.setdefault(broken.key or Path(broken.file).stem, broken)
        for loaded in self._current.values():
            self._by_digest[loaded.digest] = loaded

    @property
    def load_problems(self) -> list[LoadProblem]:
        """The files of the folder that failed to load, each with its problems (skipped)."""
        return list(self._load_problems)

    def sequence_keys(self) -> list[str]:
        """Keys of the valid sequences, sorted."""
        return sorted(self._current)

    def current(self, key: str) -> LoadedSequence:
        """The sequence's current file version."""
        if key in self._current:
            return self._current[key]
        if key in self._broken:
            broken = self._broken[key]
            count = len(broken.problems)
            raise UnknownSequence(
                f"sequence {key!r} cannot be used: {broken.file} has {count} problem(s) and was "
                f"not loaded (first: {broken.problems[0]}); fix it and run `dripsms validate`"
            )
        known = ", ".join(self.sequence_keys()) or f"none in {self.directory}"
        raise UnknownSequence(f"unknown sequence {key!r} (known: {known})")

    def pinned(self, digest: str, text: str, key: str) -> LoadedSequence:
        """A version stored with an enrollment, parsed once per process.

        It was checked when it was stored, so only its fields are validated again: a check
        added since, or a sample render, never stops an enrollment already running.
        """
        loaded = self._by_digest.get(digest)
        if loaded is None:
            loaded = parse_sequence(
                text, f"{key}@{digest[:12]}", max_segments=self.max_segments, checked=False
            )
            self._by_digest[digest] = loaded
        return loaded

    def add(self, loaded: LoadedSequence) -> None:
        """Make a parsed sequence current (for tests and the Python API)."""
        self._current[loaded.sequence.key] = loaded
        self._by_digest[loaded.digest] = loaded
