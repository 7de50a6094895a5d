"""Domain errors. The web edge maps them to HTTP statuses; the domain never knows about HTTP."""

from __future__ import annotations


class HubError(Exception):
    """Base of every error the hub raises on purpose.

    `message` is for people reading logs and API answers (English). `reason` is a stable code a
    client may translate (the console does: agents_ui/i18n/*/errors.json), finer than the class's
    `code`, which it defaults to; `params` are the values its sentence needs (a field, a limit)."""

    status = 400
    code = "bad_request"
    # Seconds after which trying again makes sense; the web edge sends it as `Retry-After`.
    retry_after: float | None = None

    def __init__(self, message: str, *, reason: str | None = None, **params: str | int) -> None:
        super().__init__(message)
        self.message = message
        self.reason = reason or self.code
        self.params = params


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

    def __init__(self, message: str, *, retry_after: float = 1.0, reason: str | None = None,
                 **params: str | int) -> None:
        super().__init__(message, reason=reason, **params)
        self.retry_after = retry_after


class Busy(HubError):
    """The hub refuses work it cannot take now (a bounded queue is full); the client may retry."""

    status = 503
    code = "busy"

    def __init__(self, message: str, *, retry_after: float = 1.0, reason: str | None = None,
                 **params: str | int) -> None:
        super().__init__(message, reason=reason, **params)
        self.retry_after = retry_after


class TooLarge(HubError):
    """A file or body over a configured limit (the same code as agents_ui.limits' refusals)."""

    status = 413
    code = "too_large"
