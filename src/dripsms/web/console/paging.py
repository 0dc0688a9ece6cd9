"""Paging the console's lists by page number: a page asks the store for one row more than it
shows, and that row says whether a next page follows."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

T = TypeVar("T")


def window(number: int, size: int) -> tuple[int, int]:
    """The ``limit`` and ``offset`` that fetch page ``number`` (from 1): one row more than
    ``size``, to know whether another page follows."""
    return size + 1, (number - 1) * size


@dataclass(frozen=True, slots=True)
class Paged(Generic[T]):
    """One page of rows, and the links to the pages before and after (None: none)."""

    rows: list[T]
    previous: str | None
    next: str | None


def paged(
    rows: Sequence[T],
    number: int,
    size: int,
    link: Callable[[int], str],
    *,
    last: int | None = None,
) -> Paged[T]:
    """Page ``number`` of ``rows`` (fetched with :func:`window`), linking the pages around
    with ``link`` (a page number to its URL); no next page after page ``last``."""
    more = len(rows) > size and (last is None or number < last)
    return Paged(
        rows=list(rows[:size]),
        previous=link(number - 1) if number > 1 else None,
        next=link(number + 1) if more else None,
    )
