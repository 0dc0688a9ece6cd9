"""``/v1/sequences``: the sequences this server runs."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path

from dripsms.core.sequence.loader import LoadedSequence
from dripsms.engine.library import UnknownSequence
from dripsms.web.dependencies import ServicesDep
from dripsms.web.schemas import SequenceOut, error_responses

router = APIRouter()


@router.get("/sequences", response_model=list[SequenceOut])
def list_sequences(services: ServicesDep) -> Any:
    """The sequences this server runs."""
    library = services.library
    return [_summary(library.current(key)) for key in library.sequence_keys()]


def current_sequence(
    key: Annotated[str, Path(max_length=64, examples=["postop"])], services: ServicesDep
) -> LoadedSequence:
    """The sequence of the ``{key}`` path parameter; :class:`UnknownSequence` (a 404 naming
    ``key``) when this server runs none."""
    try:
        return services.library.current(key)
    except UnknownSequence as exc:
        exc.field = "key"  # type: ignore[attr-defined]  # the path parameter at fault
        raise


@router.get("/sequences/{key}", response_model=SequenceOut, responses=error_responses(404, 422))
def get_sequence(loaded: Annotated[LoadedSequence, Depends(current_sequence)]) -> Any:
    """One sequence: anchor, attributes, steps."""
    return _summary(loaded)


def _summary(loaded: LoadedSequence) -> dict[str, Any]:
    seq = loaded.sequence
    return {
        "key": seq.key,
        "name": seq.name,
        "description": seq.description,
        "version": loaded.version,
        "anchor": seq.anchor,
        "timezone": seq.timezone,
        "attributes": {
            name: {"type": a.type.value, "required": a.required, "values": list(a.values) or None}
            for name, a in seq.attributes.items()
        },
        "steps": [
            {
                "id": s.id,
                "expects": s.expect_reply.type if s.expect_reply else None,
                "conditional": s.when is not None,
            }
            for s in seq.steps
        ],
    }
