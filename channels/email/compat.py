"""The ports-v2 names (issue 17, /work/ports_v2.md) the email channel uses before they land.

Until `hub.ports` has them, thread keys travel in `metadata["email"]`, outbound keys are read from
`OutboundMessage.metadata["thread_keys"]`, and `RawPayload` is defined here with the agreed
shape. Each function works with either port; after `git rebase main` brings v2 in, the fallbacks
below are dead code: delete them and use the fields directly.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from hub.ports import InboundMessage, OutboundMessage, SendResult

try:
    from hub.ports import RawPayload  # type: ignore[attr-defined]
except ImportError:
    @dataclass(frozen=True)
    class RawPayload:  # type: ignore[no-redef]
        channel: str
        source: str
        reason: str
        payload: bytes
        content_type: str
        external_id: str | None = None

V2 = "thread_keys" in {f.name for f in dataclasses.fields(InboundMessage)}


def inbound_fields(strong: tuple[str, ...], weak: tuple[str, ...], own: tuple[str, ...], raw: bytes,
                   meta: dict[str, Any]) -> dict[str, Any]:
    """InboundMessage keyword arguments for the thread keys and the raw mail (adds to `meta`
    before v2)."""
    if V2:
        return {"thread_keys": strong, "weak_thread_keys": weak, "own_thread_keys": own, "raw": raw}
    meta.update(thread_keys=list(strong), weak_thread_keys=list(weak), own_thread_keys=list(own))
    return {}


def outbound_keys(item: OutboundMessage) -> tuple[str, ...]:
    """The conversation's known thread keys, oldest first."""
    keys = getattr(item, "thread_keys", None) if V2 else item.metadata.get("thread_keys")
    return tuple(str(k) for k in keys or ())


def send_result(provider_id: str, keys: tuple[str, ...]) -> SendResult:
    if V2:
        return SendResult(provider_id=provider_id, status="sent", thread_keys=keys)  # type: ignore[call-arg]
    return SendResult(provider_id=provider_id, status="sent")
