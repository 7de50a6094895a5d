"""Domain errors. The web edge maps them to HTTP statuses; the domain never knows about HTTP."""

from __future__ import annotations


class HubError(Exception):
    """Base of every error the hub raises on purpose."""

    status = 400
    code = "bad_request"
    # Seconds after which trying again makes sense; the web edge sends it as `Retry-After`.
    retry_after: float | None = None

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

    def __init__(self, message: str, *, retry_after: float = 1.0) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class Busy(HubError):
    """The hub refuses work it cannot take now (a bounded queue is full); the client may retry."""

    status = 503
    code = "busy"

    def __init__(self, message: str, *, retry_after: float = 1.0) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class TooLarge(HubError):
    """A file or body over a configured limit (the same code as agents_ui.limits' refusals)."""

    status = 413
    code = "too_large"
