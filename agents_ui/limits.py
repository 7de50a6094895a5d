"""Refuse oversized request bodies with a clear 413 before the application reads them."""

from __future__ import annotations

import json
from collections.abc import Mapping

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from agents_ui.errors import error_body


class BodySizeLimit:
    """`max_bytes` for every request, but for the paths of `per_path` (file uploads) the limit and
    the refusal's body (agents_ui.errors.error_body) given there."""

    def __init__(self, app: ASGIApp, max_bytes: int,
                 per_path: Mapping[str, tuple[int, dict[str, object]]] | None = None) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.per_path = dict(per_path or {})

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        no_refusal: dict[str, object] = {}
        limit, refusal = self.per_path.get(scope["path"], (self.max_bytes, no_refusal))
        declared = next((v for k, v in scope.get("headers", ()) if k == b"content-length"), None)
        if declared is not None:
            if declared.isdigit() and int(declared) > limit:
                await self._refuse(send, limit, refusal)
                return
            await self.app(scope, receive, send)
            return
        # No Content-Length (chunked): read up to the limit here, then hand the body on. Raising from
        # inside receive() would not work: the framework turns it into a generic 400.
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                break
            chunks.append(message.get("body", b""))
            size += len(chunks[-1])
            if size > limit:
                await self._refuse(send, limit, refusal)
                return
            if not message.get("more_body", False):
                break
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": b"".join(chunks), "more_body": False}
            return await receive()

        await self.app(scope, replay, send)

    async def _refuse(self, send: Send, limit: int, refusal: dict[str, object]) -> None:
        body = json.dumps(refusal or error_body("too_large", f"request body over {limit} bytes",
                                                params={"max_bytes": limit})).encode()
        await send({"type": "http.response.start", "status": 413,
                    "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]})
        await send({"type": "http.response.body", "body": body})
