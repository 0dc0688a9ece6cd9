"""Cells for CSV files a person opens in a spreadsheet: text a patient typed must stay text.

Excel, LibreOffice Calc and Google Sheets read a cell that starts with ``=``, ``+``, ``-``,
``@``, a tab or a carriage return as a formula (OWASP's "CSV Injection"; ASVS 1.2.10 adds the
NUL character): ``=HYPERLINK("http://x")`` in a reply would become a live link in the care
team's export. Such a cell is written with a leading ``'``, which spreadsheets take as "this
is text" and do not show. Two kinds of cell are left as they are because no spreadsheet can
run them: a phone number in E.164 (``+`` and digits only) and a plain number (``-3``, ``7.5``).
"""

from __future__ import annotations

import re

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r", "\n", "\0")
"""First characters that make a spreadsheet read a cell as a formula."""

_INERT = re.compile(r"\+[1-9][0-9]{1,14}|-?[0-9]+(?:\.[0-9]+)?")
"""An E.164 phone number or a plain number: nothing a spreadsheet could run."""


def neutralise(cell: str) -> str:
    """``cell`` as a spreadsheet will show it as text: ``'`` before a formula's first
    character, unless the whole cell is a phone number or a plain number."""
    if cell.startswith(FORMULA_STARTS) and not _INERT.fullmatch(cell):
        return "'" + cell
    return cell
