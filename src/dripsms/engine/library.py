"""The sequences an engine runs: the current files, and every version pinned by an enrollment."""

from __future__ import annotations

from pathlib import Path

from dripsms.catalog import load_all
from dripsms.core.sequence.loader import LoadedSequence, parse_sequence
from dripsms.errors import DripError, Problem


class UnknownSequence(DripError):
    """No valid sequence file has this key."""


class SequenceLibrary:
    """Sequence files of a folder, parsed once; pinned versions parsed from their stored text."""

    def __init__(self, directory: Path, *, max_segments: int = 3) -> None:
        self.directory = directory
        self.max_segments = max_segments
        self._current: dict[str, LoadedSequence] = {}
        self._broken: dict[str, list[Problem]] = {}
        self._by_digest: dict[str, LoadedSequence] = {}
        self.reload()

    def reload(self) -> None:
        """Read the folder again (after files changed)."""
        report = load_all([self.directory], max_segments=self.max_segments)
        self._current = dict(report.sequences)
        self._broken = {}
        for problem in report.errors:
            self._broken.setdefault(Path(problem.file).stem, []).append(problem)
        for loaded in self._current.values():
            self._by_digest[loaded.digest] = loaded

    def sequence_keys(self) -> list[str]:
        """Keys of the valid sequences, sorted."""
        return sorted(self._current)

    def current(self, key: str) -> LoadedSequence:
        """The sequence's current file version."""
        if key in self._current:
            return self._current[key]
        if key in self._broken:
            first = self._broken[key][0]
            raise UnknownSequence(f"sequence {key!r} has errors ({first}); run `dripsms validate`")
        known = ", ".join(self.sequence_keys()) or f"none in {self.directory}"
        raise UnknownSequence(f"unknown sequence {key!r} (known: {known})")

    def pinned(self, digest: str, text: str, key: str) -> LoadedSequence:
        """A version stored with an enrollment, parsed once per process."""
        loaded = self._by_digest.get(digest)
        if loaded is None:
            loaded = parse_sequence(text, f"{key}@{digest[:12]}", max_segments=self.max_segments)
            self._by_digest[digest] = loaded
        return loaded

    def add(self, loaded: LoadedSequence) -> None:
        """Make a parsed sequence current (for tests and the Python API)."""
        self._current[loaded.sequence.key] = loaded
        self._by_digest[loaded.digest] = loaded
