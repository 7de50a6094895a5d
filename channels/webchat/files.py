"""Files in the web chat: a visitor sends a picture or a PDF, and fetches the files of their own
conversations (theirs and the agents').

Upload: `POST /widget/upload?widget=<id>&name=<file name>`, the file as the raw body, the visitor
token as `Authorization: Bearer <token>`, from one of the widget's allowed origins (as the socket).
Rate-limited per visitor and per address; at most the widget's `max_file_bytes`; the type is read
from the bytes by the hub (never the name or the declared type), and only `ACCEPTED` types are kept
(no SVG: it is a document that can carry scripts). Answers 201 `{"file": REF, "filename",
"content_type", "size", "kind"}`; refusals are `{"error": code, "message"}` with codes
`too_large` (413, with `max_bytes`), `file_type` (415), `empty` (400), `rate_limited` (429, with
`retry_after`), `unauthorized` (401), `forbidden` (403), `unavailable` (503). The widget then sends
REF in a message frame's `files`: REF is the stored file's description signed for this visitor of
this widget, so a socket takes only files its own visitor uploaded.

Download: each attachment of a message event the socket sends carries `url`,
`/widget/files/<id>?widget=<id>&type=<content type>&exp=<unix time>&sig=<signature>`, signed for
the visitor whose feed showed it (their own conversations only) until `exp`, `LINK_LIFETIME` after
the frame was sent. It is fetched with the same bearer token: another visitor's token (or none)
gets 404, and so does a URL whose signature is not theirs; a link of theirs past `exp` gets 410
`expired` (the widget asks the visitor to reload the page, which sends every message again with
fresh links). A link without `exp` (issued before links expired) is refused as expired.
Why a day: the link is read by the widget's script, not by a person: pictures are fetched the moment
their message arrives, a document when the visitor clicks its name, which in a tab left open can be
the next morning; every page load signs the whole history anew, so a longer life buys little. The
expiry bounds how long access decided once (the feed showed the file to this visitor) lasts, e.g.
after a merge moves the conversation to someone else; the token remains the lock. Emails carry
files as attachments, not links, so they need no lifetime of their own.
Served as a download (`attachment`, `nosniff`, a sandbox policy), never as a page of the hub, and
typed as signed only when it is one of `ACCEPTED` (else `application/octet-stream`): the widget
shows files from blob: URLs, which have the customer's site's origin (widget-files.js `fetchFile`
also retypes any other blob as bytes).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from collections.abc import Callable
from datetime import timedelta
from enum import Enum
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response

from channels.webchat.settings import WidgetSettings
from hub.ports import Attachment, AttachmentRefused, AttachmentTooLarge, PermanentError, RejectedMessage

if TYPE_CHECKING:
    from channels.webchat.adapter import WebchatChannel

ACCEPTED = frozenset({"image/png", "image/jpeg", "image/gif", "image/webp", "application/pdf"})
MAX_FILES = 5  # per message
MAX_REF = 2000
MAX_NAME = 200
LINK_LIFETIME = timedelta(days=1)  # of a download link: the module's docstring says why
UPLOAD_PATH = "/widget/upload"
PREFLIGHT = {"Access-Control-Allow-Methods": "GET, POST", "Access-Control-Allow-Headers": "authorization, content-type",
             "Access-Control-Max-Age": "600"}


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class Link(Enum):
    """What a download link is worth to the visitor who brings it."""

    GOOD = "good"
    EXPIRED = "expired"  # theirs, but past its time (or issued before links expired)
    REFUSED = "refused"  # not signed for them (or not signed at all)


class FileRefs:
    """The signed references of the module's docstring: what a visitor uploaded, what they may fetch."""

    def __init__(self, key: bytes, *, clock: Callable[[], float] = time.time) -> None:
        self.key = key
        self.clock = clock

    def _mac(self, *parts: object) -> str:
        return _b64(hmac.new(self.key, "\n".join(map(str, parts)).encode(), hashlib.sha256).digest()[:16])

    def ref(self, widget_id: str, visitor_id: str, stored: Attachment) -> str:
        body = _b64(json.dumps({"id": stored.id, "url": stored.url, "type": stored.content_type,
                                "name": stored.filename, "size": stored.size}, separators=(",", ":")).encode())
        return f"{body}.{self._mac('file', widget_id, visitor_id, body)}"

    def attachment_of(self, widget_id: str, visitor_id: str, ref: object) -> Attachment | None:
        """The file a REF names, if it was signed for this visitor of this widget."""
        if not isinstance(ref, str) or len(ref) > MAX_REF or not ref.isascii():
            return None
        body, _, sig = ref.partition(".")
        if not hmac.compare_digest(sig, self._mac("file", widget_id, visitor_id, body)):
            return None
        d = json.loads(_unb64(body))
        return Attachment(d["url"], d["type"], d["name"], d["size"], id=d["id"])

    def link(self, widget_id: str, visitor_id: str, stored: dict[str, Any]) -> dict[str, Any] | None:
        """A message's attachment as this visitor sees it: its download URL signed for them (None
        for one the hub does not keep)."""
        file_id, ctype = stored.get("id"), str(stored.get("content_type") or "application/octet-stream")
        if not isinstance(file_id, int):
            return None
        expires = int(self.clock() + LINK_LIFETIME.total_seconds())
        sig = self._mac("get", widget_id, visitor_id, file_id, ctype, expires)
        url = (f"/widget/files/{file_id}?widget={quote(widget_id)}&type={quote(ctype, safe='')}&exp={expires}"
               f"&sig={sig}")
        return {"id": file_id, "kind": stored.get("kind") or "file", "content_type": ctype,
                "filename": stored.get("filename") or "", "size": stored.get("size"), "url": url}

    def check(self, widget_id: str, visitor_id: str, file_id: int, ctype: str, expires: str, sig: str) -> Link:
        """Whether this visitor may fetch the file by this link now. A link from before links
        expired was signed without `exp`: theirs all the same, and expired."""
        signed = (expires,) if expires else ()
        if not hmac.compare_digest(sig.encode(), self._mac("get", widget_id, visitor_id, file_id, ctype,
                                                           *signed).encode()):
            return Link.REFUSED
        return Link.GOOD if expires.isdigit() and self.clock() < int(expires) else Link.EXPIRED


def _refusal(status: int, code: str, message: str, headers: dict[str, str], **extra: Any) -> JSONResponse:
    return JSONResponse({"error": code, "message": message, **extra}, status_code=status, headers=headers)


def add_file_routes(router: APIRouter, channel: WebchatChannel) -> None:
    def cors(widget: WidgetSettings | None, request: Request) -> tuple[dict[str, str], bool]:
        """The answer's CORS headers, and whether the request comes from an allowed origin."""
        headers = {"Vary": "Origin", "X-Content-Type-Options": "nosniff", "Cache-Control": "no-store"}
        origin = None if widget is None else channel.allowed_origin(widget, request.headers.get("origin"),
                                                                      request.headers.get("host"))
        if origin is not None:
            headers["Access-Control-Allow-Origin"] = origin
        return headers, origin is not None

    def visitor(widget: WidgetSettings, request: Request) -> str | None:
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        return channel.tokens.visitor_of(widget.id, token.strip()) if scheme.lower() == "bearer" else None

    @router.options(UPLOAD_PATH, include_in_schema=False)
    @router.options("/widget/files/{attachment_id}", include_in_schema=False)
    def preflight(request: Request, widget: str = "") -> Response:
        headers, _ = cors(channel.widgets.get(widget), request)
        return Response(status_code=204, headers={**headers, **PREFLIGHT})

    @router.post(UPLOAD_PATH, include_in_schema=False)  # the widget's own protocol, as its socket
    async def upload(request: Request, widget: str = "", name: str = "") -> Response:
        found = channel.widgets.get(widget)
        headers, allowed = cors(found, request)
        port = channel.port
        if found is None or not allowed:
            return _refusal(403, "forbidden", "this widget is not allowed on this site", headers)
        visitor_id = visitor(found, request)
        if visitor_id is None:
            return _refusal(401, "unauthorized", "send the visitor token as a bearer token", headers)
        if port is None:
            return _refusal(503, "unavailable", "the web chat is not running: retry", headers)
        wait = max(channel.visitor_uploads.take((found.id, visitor_id)),
                   channel.address_uploads.take(channel.addresses.of(request.scope)))
        if wait > 0:
            return _refusal(429, "rate_limited", "too many files: wait a moment", headers, retry_after=round(wait, 1))
        limit = found.max_file_bytes
        too_large = _refusal(413, "too_large", "the file is too large", headers, max_bytes=limit)
        declared = request.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > limit:
            return too_large
        body = bytearray()
        async for chunk in request.stream():
            body += chunk
            if len(body) > limit:
                return too_large
        if not body:
            return _refusal(400, "empty", "the file is empty", headers)
        try:
            stored = await port.store_attachment_async(bytes(body), request.headers.get("content-type"),
                                                       name[:MAX_NAME] or None, accept=ACCEPTED)
        except AttachmentRefused as exc:
            return _refusal(415, "file_type", f"only pictures (PNG, JPEG, GIF, WebP) and PDF files, not "
                            f"{exc.content_type}", headers)
        except AttachmentTooLarge as exc:
            return _refusal(413, "too_large", "the file is too large", headers, max_bytes=min(limit, exc.max_bytes))
        except RejectedMessage as exc:
            return _refusal(400, "rejected", str(exc), headers)
        return JSONResponse({"file": channel.files.ref(found.id, visitor_id, stored), "filename": stored.filename,
                             "content_type": stored.content_type, "size": stored.size, "kind": stored.kind},
                            status_code=201, headers=headers)

    @router.get("/widget/files/{attachment_id}", include_in_schema=False)  # a file, by a signed link
    async def download(attachment_id: int, request: Request, widget: str = "", type: str = "",  # noqa: A002
                       exp: str = "", sig: str = "") -> Response:
        found = channel.widgets.get(widget)
        headers, allowed = cors(found, request)
        missing = _refusal(404, "not_found", "no such file", headers)
        if found is None or not allowed:
            return _refusal(403, "forbidden", "this widget is not allowed on this site", headers)
        visitor_id = visitor(found, request)
        port = channel.port
        if visitor_id is None or port is None:
            return missing
        link = channel.files.check(found.id, visitor_id, attachment_id, type, exp, sig)
        if link is Link.EXPIRED:
            return _refusal(410, "expired", "this link has expired: reload the page for a new one", headers)
        if link is not Link.GOOD:
            return missing
        try:
            content = await port.open_attachment_async(Attachment(None, id=attachment_id))
        except PermanentError:
            return missing
        # Typed as signed only for the kinds a visitor may send (pictures, PDF); anything else (an
        # email's or an agent's HTML or SVG) as bytes: the widget's blob: URL has the shop's origin.
        return Response(content, media_type=type if type in ACCEPTED else "application/octet-stream", headers={
            **headers, "Cache-Control": "private, max-age=3600", "Content-Disposition": "attachment",
            "Content-Security-Policy": "default-src 'none'; sandbox"})
