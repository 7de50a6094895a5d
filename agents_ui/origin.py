"""Cross-site requests made with an agent's session cookie are refused (the Origin allow-list).

A page on another site can make the browser send the `hub_session` cookie: open `/ws/agent` and
read the stream (cross-site websocket hijacking), or post a body-less write such as `/logout` or
`/accept`. So every websocket and every unsafe request (POST, PUT, PATCH, DELETE) that carries the
session cookie and no `Authorization: Bearer` must come from an allowed origin: the hub's own (the
request's `Host`: the console opened at http://localhost:8000 while HUB_PUBLIC_URL says 127.0.0.1, or
on another port, is still the hub's own page), the public URL's (HUB_PUBLIC_URL, for a proxy that
rewrites Host) or one of `allowed_origins` (HUB_ALLOWED_ORIGINS). Another site cannot make a browser
send a Host that is not the site's own, and a rebinding site's Host gets no hub cookie. Without an `Origin` header
(older browsers, same-origin GETs turned POSTs by some), `Sec-Fetch-Site: cross-site` is refused.

Not subject to it: a bearer token, which a browser never attaches by itself, requests without
the cookie, and `exempt_paths`, routes that never read the cookie (the inbound API's key, Twilio's
signature): another site cannot make a browser send those credentials. One pure ASGI
middleware, ahead of everything else, so a refused request costs a header scan and nothing more.
"""

from __future__ import annotations

from collections.abc import Iterable

from starlette.requests import cookie_parser
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from agents_ui.api_headers import app_path
from agents_ui.deps import SESSION_COOKIE
from agents_ui.errors import API_HEADERS, error_body
from hub.ports import origin_of

__all__ = ["OriginCheck", "origin_of"]
UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
WS_REASON = "cross-site socket refused: the session cookie works only from the hub's own pages"


class OriginCheck:
    def __init__(self, app: ASGIApp, public_url: str, allowed_origins: Iterable[str] = (),
                 exempt_paths: Iterable[str] = ()) -> None:
        self.app = app
        self.allowed = frozenset(o for o in (origin_of(u) for u in (public_url, *allowed_origins)) if o)
        self.exempt = frozenset(exempt_paths)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind == "websocket" or (kind == "http" and scope["method"] in UNSAFE_METHODS
                                   and app_path(scope) not in self.exempt):
            refusal = self.refusal(scope["headers"])
            if refusal is not None:
                if kind == "websocket":  # before accepting: the server refuses the handshake
                    # A close reason holds at most 123 bytes.
                    await send({"type": "websocket.close", "code": 1008, "reason": WS_REASON})
                else:
                    await JSONResponse(error_body("forbidden", refusal), status_code=403,
                                       headers=API_HEADERS)(scope, receive, send)
                return
        await self.app(scope, receive, send)

    def refusal(self, headers: Iterable[tuple[bytes, bytes]]) -> str | None:
        """Why this request is refused, or None."""
        origin = site = host = None
        cookies: list[bytes] = []
        for name, value in headers:
            if name == b"host":
                host = value.decode("latin-1").strip()
            elif name == b"origin":
                origin = value.decode("latin-1")
            elif name == b"sec-fetch-site":
                site = value.decode("latin-1").strip().lower()
            elif name == b"cookie":
                cookies.append(value)
            elif name == b"authorization" and value[:7].lower() == b"bearer ":
                return None  # the bearer is what authenticates (agents_ui.deps.token_from), not the cookie
        if not cookies or not any(SESSION_COOKIE in cookie_parser(c.decode("latin-1")) for c in cookies):
            return None
        if origin is not None:
            seen = origin_of(origin)
            if seen in self.allowed or (host and seen in (origin_of(f"http://{host}"), origin_of(f"https://{host}"))):
                return None
            return (f"cross-site request refused: the session cookie is accepted only from the hub's own pages, "
                    f"not from {origin[:200]} (HUB_ALLOWED_ORIGINS lists other sites allowed)")
        if site == "cross-site":
            return ("cross-site request refused: the session cookie is accepted only from the hub's own pages "
                    "(Sec-Fetch-Site: cross-site)")
        return None
