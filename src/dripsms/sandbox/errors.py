"""The errors the emulated API answers with: Twilio's code, HTTP status and message."""

from __future__ import annotations

from dripsms.errors import DripError

MORE_INFO = "https://www.twilio.com/docs/errors/{code}"
"""Where ``more_info`` points, as in Twilio's own error bodies."""


class ApiError(DripError):
    """A request the emulated Twilio refuses; its body is ``code``, ``message``, ``more_info``."""

    def __init__(
        self, code: int, message: str, status: int = 400, headers: dict[str, str] | None = None
    ) -> None:
        self.code = code
        self.message = message
        self.status = status
        self.headers = dict(headers or {})
        super().__init__(f"{status} {code}: {message}")


def not_authenticated() -> ApiError:
    """Missing or wrong credentials, or credentials of another account (20003)."""
    return ApiError(20003, "Authenticate", 401, {"WWW-Authenticate": 'Basic realm="Twilio API"'})


def not_found(path: str) -> ApiError:
    """No such resource (20404), worded like Twilio: the path that was not found."""
    return ApiError(20404, f"The requested resource {path} was not found", 404)


def invalid_parameter(message: str) -> ApiError:
    """A parameter the sandbox cannot use (20422, Twilio's "Invalid parameter")."""
    return ApiError(20422, message, 400)
