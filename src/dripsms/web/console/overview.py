"""``/console/``: the overview (a placeholder until its figures are built)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from dripsms.web.console.session import CurrentOperator
from dripsms.web.console.templating import render

router = APIRouter()


@router.get("/", response_class=HTMLResponse)
def overview(request: Request, operator: CurrentOperator) -> HTMLResponse:
    """What needs the care team today."""
    return render(request, "console/overview.html")
