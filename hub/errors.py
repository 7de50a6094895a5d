"""Domain errors. The web edge maps them to HTTP statuses; the domain never knows about HTTP."""

from __future__ import annotations


class HubError(Exception):
    """Base of every error the hub raises on purpose."""

    status = 400
    code = "bad_request"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class NotFound(HubError):
    status = 404
    code = "not_found"


class Forbidden(HubError):
    status = 403
    code = "forbidden"


class Unauthorized(HubError):
    status = 401
    code = "unauthorized"


class Conflict(HubError):
    status = 409
    code = "conflict"


class Invalid(HubError):
    status = 422
    code = "invalid"


class TooManyRequests(HubError):
    status = 429
    code = "too_many_requests"
