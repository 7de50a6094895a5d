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
`/widget/files/<id>?widget=<id>&type=<content type>&sig=<signature>`, signed for the visitor whose
feed showed it (their own conversations only). It is fetched with the same bearer token: another
visitor's token (or none) gets 404, and so does a URL whose signature is not theirs.
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
UPLOAD_PATH = "/widget/upload"
PREFLIGHT = {"Access-Control-Allow-Methods": "GET, POST", "Access-Control-Allow-Headers": "authorization, content-type",
             "Access-Control-Max-Age": "600"}


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class FileRefs:
    """The signed references of the module's docstring: what a visitor uploaded, what they may fetch."""

    def __init__(self, key: bytes) -> None:
        self.key = key

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
        sig = self._mac("get", widget_id, visitor_id, file_id, ctype)
        url = f"/widget/files/{file_id}?widget={quote(widget_id)}&type={quote(ctype, safe='')}&sig={sig}"
        return {"id": file_id, "kind": stored.get("kind") or "file", "content_type": ctype,
                "filename": stored.get("filename") or "", "size": stored.get("size"), "url": url}

    def may_fetch(self, widget_id: str, visitor_id: str, file_id: int, ctype: str, sig: str) -> bool:
        return hmac.compare_digest(sig.encode(), self._mac("get", widget_id, visitor_id, file_id, ctype).encode())


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
                       sig: str = "") -> Response:
        found = channel.widgets.get(widget)
        headers, allowed = cors(found, request)
        missing = _refusal(404, "not_found", "no such file", headers)
        if found is None or not allowed:
            return _refusal(403, "forbidden", "this widget is not allowed on this site", headers)
        visitor_id = visitor(found, request)
        port = channel.port
        if visitor_id is None or port is None or not channel.files.may_fetch(found.id, visitor_id, attachment_id,
                                                                              type, sig):
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
