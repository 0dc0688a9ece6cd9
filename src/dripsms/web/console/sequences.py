"""``/console/sequences``: each sequence with its enrollments; one sequence drawn as a
timeline with a funnel per step; its replies exported as CSV (audited)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Request
from fastapi.responses import HTMLResponse, StreamingResponse

from dripsms.core.sequence.loader import LoadedSequence
from dripsms.engine.library import LoadProblem, UnknownSequence
from dripsms.errors import DripError
from dripsms.store import audit, funnel
from dripsms.store.audit import AuditAction
from dripsms.web.console.replies_csv import export_replies
from dripsms.web.console.sequence_pages import sequence_context, sequences_context
from dripsms.web.console.session import CurrentOperator
from dripsms.web.console.templating import render
from dripsms.web.dependencies import Services, ServicesDep

router = APIRouter()

SequenceKey = Annotated[str, Path(max_length=64, pattern=r"^[A-Za-z0-9_-]+$")]


@router.get("/sequences", response_class=HTMLResponse)
def sequences(request: Request, services: ServicesDep, operator: CurrentOperator) -> HTMLResponse:
    """Every sequence: the folder's, the broken files', and those only stored."""
    library = services.library
    with services.engine.connect() as connection:
        versions = funnel.version_counts(connection)
    current = [library.current(key) for key in library.sequence_keys()]
    on_file = {loaded.sequence.key for loaded in current}
    names: dict[str, str] = {}
    for version in versions:  # the newest stored version names a sequence with no file
        if version.key not in on_file and version.key not in names:
            try:
                names[version.key] = _stored(services, version.key, version.digest).sequence.name
            except DripError:  # a version this dripsms can no longer read: named by its key
                names[version.key] = version.key
    context = sequences_context(current, library.load_problems, versions, names)
    return render(request, "console/sequences.html", context)


def _stored(services: Services, key: str, digest: str) -> LoadedSequence:
    with services.engine.connect() as connection:
        text = funnel.version_text(connection, key, digest)
    assert text is not None  # the digest was just read from the same table
    return services.library.pinned(digest, text, key)


def _problems(services: Services, key: str) -> LoadProblem | None:
    return next((p for p in services.library.load_problems if p.key == key), None)


def _shown(services: Services, key: str) -> tuple[LoadedSequence, bool]:
    """The current file of ``key``, else its newest stored version; :class:`UnknownSequence`
    (404) when neither exists."""
    if key in services.library.sequence_keys():
        return services.library.current(key), True
    with services.engine.connect() as connection:
        versions = funnel.version_counts(connection, key)
    if not versions:
        broken = _problems(services, key)
        if broken is not None:
            services.library.current(key)  # raises, naming the file and its first problem
        raise UnknownSequence(f"no sequence {key!r} in the folder or the database")
    return _stored(services, key, versions[0].digest), False


@router.get("/sequences/{key}", response_class=HTMLResponse)
def sequence(
    request: Request, key: SequenceKey, services: ServicesDep, operator: CurrentOperator
) -> HTMLResponse:
    """One sequence: its steps as a timeline, a funnel per step, its versions."""
    loaded, current = _shown(services, key)
    with services.engine.connect() as connection:
        versions = funnel.version_counts(connection, key)
        states = funnel.step_states(connection, key)
        answered = funnel.step_answers(connection, key)
        values = funnel.answer_values(connection, key)
    context = sequence_context(
        loaded, current=current, problems=_problems(services, key), versions=versions,
        states=states, answered=answered, values=values,
    )  # fmt: skip
    return render(request, "console/sequence.html", context)


@router.get("/sequences/{key}/replies.csv")
def replies_csv(
    key: SequenceKey, services: ServicesDep, operator: CurrentOperator
) -> StreamingResponse:
    """Every reply of the sequence's enrollments as CSV; the export is audited."""
    _shown(services, key)
    with services.engine.begin() as connection:
        audit.record(
            connection, at=services.session_clock(), operator_email=operator.email,
            operator_id=operator.id, action=AuditAction.EXPORT, subject=f"sequence:{key}",
            detail={"what": "replies.csv"},
        )  # fmt: skip
    headers = {
        "Content-Disposition": f'attachment; filename="{key}-replies.csv"',
        "Cache-Control": "no-store",
        "X-Content-Type-Options": "nosniff",
    }
    return StreamingResponse(
        export_replies(services.engine, key), media_type="text/csv; charset=utf-8",
        headers=headers,
    )  # fmt: skip
