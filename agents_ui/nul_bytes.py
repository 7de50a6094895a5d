"""A NUL character in a request's query string or path is refused before routing, the same way
on both databases.

PostgreSQL refuses NUL in text (a DataError, answered 422 by agents_ui/errors.py) while SQLite
stores and compares it: `GET /api/v1/contacts?q=%00` was a 422 on one and a 200 on the other, and
each new route taking a text parameter would repeat it. No parameter of the hub means anything
with a NUL in it, so the application (config.app.HubApp) asks `refusal` once per request, ahead
of the fast lane and the stack alike: a few bytes compared, for every route at once. Bodies are
checked where they are read (agents_ui.api.schemas, hub.conversations.storable).
"""

from __future__ import annotations

from starlette.responses import JSONResponse
from starlette.types import Receive, Scope, Send

from agents_ui.errors import API_HEADERS, error_body

NUL_IN_QUERY = "the query string contains a NUL character (%00), which no parameter accepts"
NUL_IN_PATH = "the path contains a NUL character (%00)"


def refusal(scope: Scope) -> str | None:
    """Why this request is refused, or None (the usual case: two `in` tests on short bytes)."""
    query: bytes = scope.get("query_string", b"")
    if b"%00" in query or b"\x00" in query:
        return NUL_IN_QUERY
    if "\x00" in scope.get("path", ""):
        return NUL_IN_PATH
    return None


async def refuse(reason: str, scope: Scope, receive: Receive, send: Send) -> None:
    """A 422 in the hub's error shape; a socket is closed before it is accepted (1008, the reason)."""
    if scope["type"] == "websocket":
        await send({"type": "websocket.close", "code": 1008, "reason": reason})
        return
    await JSONResponse(error_body("invalid", reason, reason="nul_character", details=[reason]), status_code=422,
                       headers=API_HEADERS)(scope, receive, send)
