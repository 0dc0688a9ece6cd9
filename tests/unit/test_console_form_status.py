"""A console form's error shows beside the form with its category's status; a 5xx is not
the form's to show (it goes on to the shared handlers, which log it and say nothing)."""

from __future__ import annotations

import pytest

from dripsms.errors import Conflict, DripError, InvalidInput, InvariantBroken, NotFound
from dripsms.web.console.errors import form_status


@pytest.mark.parametrize(
    ("error", "status"),
    [(InvalidInput("body: empty"), 422), (NotFound("no such"), 404), (Conflict("ended"), 409)],
)
def test_a_form_error_has_its_category_status(error: DripError, status: int) -> None:
    assert form_status(error) == status


@pytest.mark.parametrize("error", [InvariantBroken("secret detail"), DripError("no category")])
def test_a_bug_is_raised_again_not_shown_beside_the_form(error: DripError) -> None:
    with pytest.raises(type(error)):
        form_status(error)
