"""The care team's console: server-rendered pages under ``/console``.

Each page group is a module with its own router; this package assembles them. Pages build
their context with one function each, from ``store`` queries, and render a template of
``templates/console/`` through :func:`dripsms.web.console.templating.render`.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter
from fastapi.responses import RedirectResponse
from fastapi.staticfiles import StaticFiles

from dripsms.web.console import audit as audit_pages
from dripsms.web.console import contacts, enrollments, inbox, overview, signin
from dripsms.web.console import sandbox as sandbox_page
from dripsms.web.console import sequences as sequence_pages
from dripsms.web.console import users as users_pages

STATIC = Path(__file__).resolve().parent / "static"

router = APIRouter(prefix="/console", include_in_schema=False)
router.include_router(signin.router)
router.include_router(overview.router)
router.include_router(sequence_pages.router)
router.include_router(inbox.router)
router.include_router(enrollments.router)
router.include_router(contacts.router)
router.include_router(sandbox_page.router)
router.include_router(users_pages.router)
router.include_router(audit_pages.router)


@router.get("")
def console_root() -> RedirectResponse:
    """``/console`` → ``/console/``."""
    return RedirectResponse("/console/", status_code=308)


def static_files() -> StaticFiles:
    """The console's CSS (and its few scripts): served by dripsms, no CDN."""
    return StaticFiles(directory=STATIC)
