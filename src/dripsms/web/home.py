"""``/``: a page a person can open — what runs here, its health, and where to go next.

It leads to the care team's console (``/console/``) and to what the clinic's IT reads
(the API's documentation, the health checks, the metrics).
"""

from __future__ import annotations

from html import escape

from fastapi import APIRouter
from fastapi.responses import HTMLResponse

from dripsms import __version__
from dripsms.web.dependencies import ServicesDep
from dripsms.web.health import health_of

router = APIRouter()

PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>dripsms</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>
body {{ font: 16px/1.5 system-ui, sans-serif; max-width: 46rem; margin: 2rem auto;
       padding: 0 1rem; color: #1d2330; }}
h1 {{ margin-bottom: 0 }} .sub {{ color: #5a6270; margin-top: .2rem }}
table {{ border-collapse: collapse; width: 100% }}
td {{ padding: .35rem .5rem; border-top: 1px solid #e3e6ea; vertical-align: top }}
.go {{ font-size: 1.15rem; font-weight: 600 }}
.ok {{ color: #17683a }} .warn {{ color: #8a5a00 }} .bad {{ color: #a4161a; font-weight: 600 }}
</style></head><body>
<h1>dripsms</h1>
<p class="sub">version {version} · sending through {provider}</p>
<h2>Health: <span class="{status_class}">{status}</span></h2>
<table>{rows}</table>
<p><a class="go" href="/console/">Open the care team's console →</a></p>
<h2>Where to go</h2>
<ul>
<li><a href="/console/">/console/</a>: the care team's console (sign in)</li>
<li><a href="/docs">/docs</a>: the HTTP API (enroll, contacts, sequences)</li>
<li><a href="/healthz">/healthz</a>: these checks as JSON (503 when one fails)</li>
<li><a href="/metrics">/metrics</a>: Prometheus metrics</li>
</ul>
<p>From the command line: <code>dripsms timeline --phone NUMBER</code>,
<code>dripsms stats</code>, <code>dripsms doctor</code>.</p>
</body></html>
"""


def _row(name: str, ok: bool, warning: bool, detail: str) -> str:
    mark, css = ("failing", "bad") if not ok else ("look", "warn") if warning else ("ok", "ok")
    return f'<tr><td>{escape(name)}</td><td class="{css}">{mark}</td><td>{escape(detail)}</td></tr>'


@router.get("/", include_in_schema=False, response_class=HTMLResponse)
def home(services: ServicesDep) -> HTMLResponse:
    """The home page: what this is, its health, links. Always 200: it is for a person, who
    must see the page (and a failing check named on it); ``/healthz`` is the probe."""
    runtime = services.runtime
    health = health_of(runtime)
    rows = "".join(
        _row(name, check.ok, bool(getattr(check, "warning", False)), check.detail)
        for name, check in health.checks.items()
    )
    provider = (
        "the built-in sandbox (no text reaches a phone)"
        if runtime.settings.uses_sandbox
        else f"Twilio at {runtime.settings.twilio_api_base}"
    )
    ok = health.status == "ok"
    page = PAGE.format(
        version=escape(__version__), provider=escape(provider), status=escape(health.status),
        status_class="ok" if ok else "bad", rows=rows,
    )  # fmt: skip
    return HTMLResponse(page)
