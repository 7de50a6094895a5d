"""The errors that cross the port: ingest's refusals (`RejectedMessage`, `AttachmentTooLarge`,
`AttachmentRefused`) and a send's outcome (`TransientError`: try later, `OutcomeUnknown` when it may
have gone through; `PermanentError`: never)."""

from __future__ import annotations


class RejectedMessage(ValueError):
    """Ingest refused this message for good: bad input (an invalid address, a value the database
    cannot store such as a NUL character). Sending it again will not help: answer 4xx."""


class AttachmentTooLarge(RejectedMessage):
    """`HubPort.store_attachment_async` refused a file over the hub's limit (`max_bytes`)."""

    def __init__(self, message: str, max_bytes: int) -> None:
        super().__init__(message)
        self.max_bytes = max_bytes


class AttachmentRefused(RejectedMessage):
    """`HubPort.store_attachment_async` refused a file whose type, read from its bytes
    (`content_type`), is not one the caller accepts: nothing was kept."""

    def __init__(self, message: str, content_type: str) -> None:
        super().__init__(message)
        self.content_type = content_type


class SendError(Exception):
    """A send that did not go through. `str()` is its reason in English (stored as the message's
    `delivery_error`); `reason` (a stable code, see hub.delivery.reasons) and `params` (`words`: a
    foreign server's own words, kept as they are) let the console say it in the agent's language."""

    def __init__(self, message: str, *, reason: str | None = None, **params: str | int) -> None:
        super().__init__(message)
        self.reason = reason
        self.params = params


class TransientError(SendError):
    """The send may succeed later (network, 429, 5xx): the outbox retries with backoff."""


class OutcomeUnknown(TransientError):
    """The send may have gone through: the connection timed out or dropped after the item was
    handed over (email: waiting for the answer to DATA). Retried like any transient error, and
    the retry's `OutboundMessage.outcome_unknown` lets the adapter look before sending again."""


class PermanentError(SendError):
    """The send will never succeed as is (invalid number, 4xx): marked failed with this reason."""
