"""The CLI's exit status comes from the error's category, in one place."""

from __future__ import annotations

import pytest

from dripsms.cli.app import exit_code
from dripsms.core.phones import InvalidPhone
from dripsms.core.states import IllegalTransition, MessageState
from dripsms.engine.contacts import UnknownContact
from dripsms.errors import DripError, Unavailable
from dripsms.provider.base import ProviderError
from dripsms.store.database import DatabaseNotReady


@pytest.mark.parametrize(
    ("error", "status"),
    [
        (InvalidPhone("phone: not a phone number"), 2),
        (UnknownContact("phone", "no contact with this phone"), 2),
        (DatabaseNotReady("run `dripsms db upgrade` first"), 2),  # a person must act
        (Unavailable("the database is unavailable"), 3),  # later may work
        (ProviderError("connection failed"), 3),
        (IllegalTransition(MessageState.DELIVERED, MessageState.PLANNED), 70),  # a bug
        (DripError("anything else dripsms refuses"), 2),
    ],
)
def test_each_category_has_its_exit_status(error: DripError, status: int) -> None:
    assert exit_code(error) == status
