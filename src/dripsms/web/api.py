"""The /v1 API: JSON or form-encoded (Twilio Studio's *Make HTTP Request*), behind a token.

Each resource's routes are in :mod:`dripsms.web.routes`; the bodies in
:mod:`dripsms.web.schemas`; what routes take in :mod:`dripsms.web.dependencies`; how an
error becomes an answer in :mod:`dripsms.web.problems`.
"""

from __future__ import annotations

from fastapi import APIRouter

from dripsms.web.auth import Caller
from dripsms.web.routes import contacts, enrollments, sequences
from dripsms.web.schemas import error_responses

router = APIRouter(
    prefix="/v1", tags=["enrollment API"], dependencies=[Caller],
    responses=error_responses(401, 413, 503),  # every route: no or a wrong token; a body
    # over the limit (dripsms.web.limits); the database is down
)  # fmt: skip
router.include_router(enrollments.router)
router.include_router(contacts.router)
router.include_router(sequences.router)
