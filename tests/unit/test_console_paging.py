"""The console's paging: one row more than a page says a next page follows."""

from __future__ import annotations

from dripsms.web.console.paging import paged, window


def link(number: int) -> str:
    return f"/list?page={number}"


def test_window_asks_for_one_row_more_than_a_page() -> None:
    assert window(1, 50) == (51, 0)
    assert window(3, 50) == (51, 100)


def test_a_next_page_only_when_the_extra_row_came_back() -> None:
    full = paged(list(range(51)), 1, 50, link)
    assert full.rows == list(range(50))
    assert (full.previous, full.next) == (None, "/list?page=2")
    exact = paged(list(range(50)), 2, 50, link)
    assert exact.rows == list(range(50))
    assert (exact.previous, exact.next) == ("/list?page=1", None)


def test_no_next_page_after_the_last() -> None:
    assert paged(list(range(11)), 4, 10, link, last=4).next is None
    assert paged(list(range(11)), 3, 10, link, last=4).next == "/list?page=4"
