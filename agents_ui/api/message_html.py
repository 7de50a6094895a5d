"""A message's formatted (HTML) version, as the document of the console's sandboxed frame.

The console shows an email's HTML in `<iframe sandbox>` pointed here, not in a `srcdoc`: a
`srcdoc` (or `blob:`) document inherits the page's Content-Security-Policy, so the page would
have to allow remote images everywhere for one message's to load. This answer carries its own
policy instead: nothing runs (CSP `sandbox` without `allow-scripts`, no script source; it keeps the
hub's origin, `allow-same-origin`, only so that the console can read the document's height and
size the frame to it), nothing loads but the hub's own
and `data:` images (inline `cid:` pictures are written in as such, see INLINE_PART_MAX), and
remote images (stored as `data-remote-src`, hub/conversations/sanitize.py) only with
`?images=show`, which the console asks for when the agent clicks "Show images"; only that
answer's policy allows `http:`/`https:` images. No referrer leaves with them.
"""

from __future__ import annotations

import base64
from typing import Literal

from fastapi import APIRouter, Depends, Query
from fastapi.responses import HTMLResponse

from agents_ui.deps import Caller, current_caller, get_hub
from hub import access
from hub.attachments.actions import parts_of
from hub.attachments.models import StoredAttachment
from hub.attachments.sniff import INLINE_SERVED
from hub.blobs import BlobNotFound
from hub.conversations import actions
from hub.conversations.models import Message
from hub.conversations.sanitize import inline_part_ids, show_inline_parts, show_remote_images
from hub.errors import NotFound
from hub.runtime import Hub

router = APIRouter(prefix="/api/v1/conversations", tags=["conversations"])
# Inline (`cid:`) pictures are written into the document as `data:` URLs, up to this size each and
# in all: the document carries its pictures, so showing them asks nothing more of the hub.
INLINE_PART_MAX = 2 * 1024 * 1024
INLINE_PARTS_MAX = 8 * 1024 * 1024

_POLICY = ("default-src 'none'; img-src 'self' data:{remote}; style-src 'unsafe-inline'; base-uri 'none'; "
           "form-action 'none'; frame-ancestors 'self'; sandbox allow-same-origin")


def frame_policy(*, remote_images: bool) -> str:
    return _POLICY.format(remote=" http: https:" if remote_images else "")


@router.get("/{conversation_id}/messages/{message_id}/html", response_class=HTMLResponse,
            summary="A message's formatted version, for the console's sandboxed frame")
def message_html(
    conversation_id: int,
    message_id: int,
    images: Literal["hide", "show"] = Query("hide", description="show: let remote images load (the sender "
                                            "learns that and when the message was read, and from where)"),
    caller: Caller = Depends(current_caller),
    hub: Hub = Depends(get_hub),
) -> HTMLResponse:
    """The stored, sanitized HTML as a document. Whoever may read the conversation may read it."""
    with hub.db.read() as s:
        access.check_read(caller.scope, actions.get_conversation(s, conversation_id))
        message = s.get(Message, message_id)
        if message is None or message.conversation_id != conversation_id or not message.html:
            raise NotFound(f"message {message_id} of conversation {conversation_id} has no formatted version")
        html = message.html
        parts = parts_of(s, message_id, inline_part_ids(html))
    show = images == "show"
    body = show_inline_parts(show_remote_images(html) if show else html, _data_urls(hub, parts))
    return HTMLResponse(
        f'<!doctype html><html><head><meta charset="utf-8"></head><body>{body}</body></html>',
        headers={"Content-Security-Policy": frame_policy(remote_images=show), "Referrer-Policy": "no-referrer",
                 "X-Content-Type-Options": "nosniff", "Cache-Control": "no-store"},
    )


def _data_urls(hub: Hub, parts: list[StoredAttachment]) -> dict[str, str]:
    """Content-ID -> `data:` URL of each inline picture that may be shown (a raster type read from
    its bytes, within the sizes above); the rest stay `cid:` (nothing loads)."""
    files, out, total = hub.options.files, {}, 0
    for part in parts:
        if files is None or part.cid is None or part.content_type not in INLINE_SERVED \
                or part.size > INLINE_PART_MAX or total + part.size > INLINE_PARTS_MAX:
            continue
        try:
            data = files.read(part.blob_key)
        except BlobNotFound:
            continue
        total += len(data)
        out[part.cid] = f"data:{part.content_type};base64,{base64.b64encode(data).decode()}"
    return out
